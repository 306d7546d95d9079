/* The native Unicorn hooks of mcusim (see mcusim/native.py for what they count and why).
 *
 * Built once per source/compiler by mcusim.native with the host C compiler into a shared
 * library in the build cache, loaded with ctypes and registered with uc_hook_add /
 * uc_mmio_map by address.  Everything here runs inside Unicorn's translated code: no
 * allocation, no Python.  All state lives in one flat uint64_t array (the user data) whose
 * layout -- the H_* indices and the row sizes -- is passed in by native.py as -D flags, so
 * the layout has one definition.
 */
#include <stdint.h>
#include <stddef.h>

typedef uint64_t u64;
typedef int (*stop_fn)(void *uc);
typedef int (*read_fn)(void *uc, u64 address, void *bytes, size_t size);
typedef int (*reg_fn)(void *uc, int regid, void *value);

#define NOINLINE __attribute__((noinline))
#define GOLD32 0x9E3779B1ull
#define GOLD64 0x9E3779B97F4A7C15ull

/* Block row fields (BLOCK_FIELDS wide, see native.py). */
#define B_KEY 0      /* start address + 1, 0 = free slot */
#define B_SIZE 1
#define B_NINSTR 2
#define B_COUNT 3
#define B_IMISS 4
#define B_DREADS 5
#define B_DMISS 6
#define B_LOWERS 7   /* 1 when an instruction of the block may lower SP */
#define B_SUCC 8     /* successor memo: SUCC_WAYS x (dst key, dst slot + 1, edge row) */
#define B_FETCH 14   /* 0: not in wait-state memory; 1: fetches modelled; 2: and skippable */
#define B_SELF 15    /* edge row of the block's self edge, 0 = not made yet */
#define SUCC_WAYS 2

static inline void stop(u64 *st, void *uc, u64 why)
{
    st[H_STOPPED] = why;
    ((stop_fn)(uintptr_t)st[H_FN_STOP])(uc);
}

/* Look `line` up in the cache described at st[base..]; 1 on a hit.  The LRU set is scanned
 * only on a miss: a way predictor (the way where the line was last seen, by line number)
 * finds hits directly.  The result and every LRU stamp are exactly those of a full scan,
 * since a line is held by at most one way. */
static inline int cache_access(u64 *st, u64 base, u64 line)
{
    u64 sets = st[base + C_SETS];
    if (sets == 0)
        return 0;
    u64 ways = st[base + C_WAYS];
    u64 tick = ++st[H_TICK];
    u64 row = st[base + C_TAGS] + (line % sets) * ways * 2;
    u64 key = line + 1;
    u64 *pred = st + st[base + C_PRED] + (line & (PRED_ENTRIES - 1));
    u64 w = *pred;
    if (w < ways && st[row + 2 * w] == key) {
        st[row + 2 * w + 1] = tick;
        return 1;
    }
    u64 victim = 0, oldest = st[row + 1];
    for (w = 0; w < ways; w++) {
        u64 slot = row + 2 * w;
        if (st[slot] == key) {
            st[slot + 1] = tick;
            *pred = w;
            return 1;
        }
        if (st[slot + 1] < oldest) {
            oldest = st[slot + 1];
            victim = w;
        }
    }
    st[row + 2 * victim] = key;
    st[row + 2 * victim + 1] = tick;
    *pred = victim;
    return 0;
}

/* One access to `line` through the cache model at st[base..]; 1 on a miss.  In order: the
 * current-line buffer (descriptors with C_FLAGS bit 1: re-reading the line read last hits,
 * as the Flash interface keeps the line it read), the cache array (one of its two most
 * recently touched lines hits without a lookup -- loops re-fetch the same lines; only the
 * order of those two lines in the LRU stack is then approximate), the one-line prefetch
 * buffer (C_FLAGS bit 0: holds the line after the one read last).  A miss, or a hit in the
 * prefetch buffer, allocates the line in the array. */
static inline int fetch(u64 *st, u64 base, u64 line)
{
    u64 key = line + 1, flags = st[base + C_FLAGS];
    if ((flags & 2) && key == st[base + C_CUR])
        return 0;
    int hit = 0;
    if (st[base + C_SETS]) {
        if (key == st[base + C_MRU1] || key == st[base + C_MRU2]) {
            hit = 1;
        } else {
            hit = cache_access(st, base, line);
            st[base + C_MRU2] = st[base + C_MRU1];
            st[base + C_MRU1] = key;
        }
    }
    if (!hit && (flags & 1) && key == st[base + C_PBUF])
        hit = 1;
    st[base + C_CUR] = key;
    if (flags & 1)
        st[base + C_PBUF] = key + 1;
    return !hit;
}

static inline u64 cache_base(u64 index)
{
    return H_CACHES + CACHE_WORDS * index;
}

static inline unsigned halfword(const uint8_t *p, u64 pos)
{
    return (unsigned)p[pos] | ((unsigned)p[pos + 1] << 8);
}

/* Instructions in the first `nbytes` bytes copied to `scratch`; *lowers = 1 when one of them
 * may lower SP: PUSH, SUB SP #imm, ADD/MOV with Rd = SP (16-bit); STMDB SP!, VPUSH, MOV.W SP,
 * and SP-based forms with Rd or the P/U/W bits of a pre-decrement with writeback equal to SP
 * (32-bit). */
static u64 count_thumb(const u64 *scratch, u64 nbytes, u64 *lowers)
{
    const uint8_t *p = (const uint8_t *)scratch;
    u64 n = 0, pos = 0;
    *lowers = 0;
    while (pos < nbytes) {
        unsigned hw = halfword(p, pos), top = hw >> 11;
        if (top == 0x1D || top == 0x1E || top == 0x1F) {
            unsigned hw2 = pos + 2 < nbytes ? halfword(p, pos + 2) : 0, rd = (hw2 >> 8) & 0xF;
            if (hw == 0xE92D || hw == 0xED2D || ((hw & 0xF) == 13 && rd == 13)
                    || (hw == 0xEA4F && rd == 13))
                *lowers = 1;
            pos += 4;
        } else {
            if ((hw & 0xFE00) == 0xB400 || (hw & 0xFF80) == 0xB080)
                *lowers = 1;
            else if ((hw & 0xFD00) == 0x4400 && (((hw >> 4) & 8) | (hw & 7)) == 13)
                *lowers = 1;
            pos += 2;
        }
        n++;
    }
    return n;
}

/* State index of the costed range holding `addr`, 0 when none does. */
static u64 range_row(const u64 *st, u64 addr)
{
    u64 n = st[H_NRANGES];
    for (u64 i = 0; i < n; i++) {
        u64 row = H_RANGES + RANGE_WORDS * i;
        if (st[row] <= addr && addr < st[row + 1])
            return row;
    }
    return 0;
}

/* The block's own I-fetch lines need no model run on its third and later consecutive
 * executions: the two before left every line resident, most recent, in the same order and
 * with the same MRU pair, so a further pass would hit everywhere and only renew LRU stamps
 * without changing their order.  Holds when the block's lines (plus a prefetched one) fit
 * the cache without evicting each other. */
static u64 fetch_skippable(const u64 *st, u64 rrow, u64 address, uint32_t size)
{
    u64 base = cache_base(st[rrow + 2]);
    u64 sets = st[base + C_SETS], ways = st[base + C_WAYS];
    if (sets == 0)
        return 0;
    u64 lshift = st[base + C_SHIFT];
    u64 lines = ((address + size - 1) >> lshift) - (address >> lshift) + 2;
    return (lines + sets - 1) / sets <= ways;
}

/* Slot of the block starting at `address`, recording it at first sight; -1 when full. */
static NOINLINE int64_t block_slot(u64 *st, void *uc, u64 address, uint32_t size)
{
    u64 tcap = st[H_TCAP], mask = tcap - 1, boff = st[H_BLOCKS_OFF], key = address + 1;
    u64 h = ((address >> 1) * GOLD32) & mask;
    for (u64 probes = 0; probes < tcap; probes++, h = (h + 1) & mask) {
        u64 *row = st + boff + h * BLOCK_FIELDS;
        if (row[B_KEY] == key)
            return (int64_t)h;
        if (row[B_KEY] == 0) {
            u64 nbytes = size > SCRATCH_WORDS * 8 ? SCRATCH_WORDS * 8 : size;
            u64 *scratch = st + st[H_SCRATCH];
            ((read_fn)(uintptr_t)st[H_FN_READ])(uc, address, scratch, nbytes);
            row[B_KEY] = key;
            st[st[H_BUSED_OFF] + st[H_NBLOCKS]++] = h;
            row[B_SIZE] = size;
            row[B_NINSTR] = count_thumb(scratch, nbytes, &row[B_LOWERS]);
            u64 rrow = range_row(st, address);
            if (rrow) {
                row[B_RANGE] = rrow;
                row[B_FETCH] = 1 + fetch_skippable(st, rrow, address, size);
            }
            return (int64_t)h;
        }
    }
    return -1;
}

/* Row offset of the edge (prev slot + 1 -> slot + 1), created with count 0; 0 when full. */
static NOINLINE u64 edge_row(u64 *st, u64 prev, u64 slot)
{
    u64 ecap = st[H_ECAP], emask = ecap - 1, eoff = st[H_EDGES_OFF];
    u64 ekey = (prev << 32) | (slot + 1);
    u64 eh = ((ekey * GOLD64) >> 20) & emask;
    for (u64 probes = 0; probes < ecap; probes++, eh = (eh + 1) & emask) {
        u64 erow = eoff + eh * EDGE_FIELDS;
        if (st[erow] == ekey + 1)
            return erow;
        if (st[erow] == 0) {
            st[erow] = ekey + 1;
            st[st[H_EUSED_OFF] + st[H_NEDGES]++] = erow;
            return erow;
        }
    }
    return 0;
}

/* Instruction fetch of the block's lines through its range's I-side model; each missed
 * line costs the range's fetch cycles (the Flash wait states). */
static NOINLINE void fetch_lines(u64 *st, u64 *row, u64 address, uint32_t size)
{
    u64 rrow = row[B_RANGE], base = cache_base(st[rrow + 2]);
    u64 lshift = st[base + C_SHIFT];
    u64 line = address >> lshift, last = (address + size - 1) >> lshift, misses = 0;
    for (; line <= last; line++)
        misses += (u64)fetch(st, base, line);
    if (misses) {
        row[B_IMISS] += misses;
        row[B_ISTALL] += misses * st[rrow + 4];
    }
}

/* Branch outcome changes: `row` went to successor `slot` this time. */
static inline void note_successor(u64 *row, u64 slot)
{
    if (row[B_LAST_SUCC] != slot + 1) {
        if (row[B_LAST_SUCC])
            row[B_SWITCHES]++;
        row[B_LAST_SUCC] = slot + 1;
    }
}

/* Repeats of one block (a loop of one block) are counted in H_RUN and added to the block's
 * count, its self edge and H_INSNS only when the run ends (a different block, a stop, or
 * read_counts on the Python side).  Past the repeats that need the fetch model, the hook
 * arms H_FAST_KEY with the block's (size, address) key and H_FAST_LEFT (and H_FAST_BASE) with
 * the repeats left before the instruction budget is reached; then a repeat is one compare
 * and one decrement, and the repeats it counted are H_FAST_BASE - H_FAST_LEFT, moved into
 * H_RUN by sync_run. */
static inline u64 fast_key(u64 address, uint32_t size)
{
    return ((u64)size << 33) | (address + 1);
}

static inline void sync_run(u64 *st)
{
    st[H_RUN] += st[H_FAST_BASE] - st[H_FAST_LEFT];
    st[H_FAST_BASE] = st[H_FAST_LEFT];
}

static inline void flush_run(u64 *st)
{
    sync_run(st);
    u64 run = st[H_RUN];
    if (run) {
        u64 *row = st + st[H_LAST_ROW];
        row[B_COUNT] += run;
        st[st[H_RUN_EDGE] + 1] += run;
        st[H_INSNS] += run * row[B_NINSTR];
        st[H_RUN] = 0;
    }
}

static NOINLINE void budget_stop(u64 *st, void *uc)
{
    flush_run(st);
    st[H_FAST_KEY] = 0;
    stop(st, uc, STOP_BUDGET);
}

/* A repeat of the block before that needs more than counting: the first one (which finds
 * the self edge) and those whose fetch lines go through the cache model. */
static void block_repeat(u64 *st, void *uc, u64 address, uint32_t size)
{
    u64 *row = st + st[H_LAST_ROW];
    u64 run = st[H_RUN];
    if (run == 0) {
        if (!row[B_SELF]) {
            row[B_SELF] = edge_row(st, st[H_PREV], st[H_CUR]);
            if (!row[B_SELF]) {
                row[B_COUNT]++;
                st[H_INSNS] += row[B_NINSTR];
                stop(st, uc, STOP_EDGE_TABLE);
                return;
            }
        }
        st[H_RUN_EDGE] = row[B_SELF];
        note_successor(row, st[H_CUR]);
    }
    int skippable = row[B_FETCH] == 2 && size == row[B_SIZE];
    int fetch_now = row[B_FETCH] && !(run && skippable);
    if (fetch_now)
        fetch_lines(st, row, address, size);
    st[H_RUN] = ++run;
    u64 ninstr = row[B_NINSTR], insns = st[H_INSNS] + run * ninstr, budget = st[H_BUDGET];
    if (budget && insns >= budget) {
        budget_stop(st, uc);
        return;
    }
    /* From the next repeat on the fetches are skippable (or not modelled): arm the fast path. */
    if (!row[B_FETCH] || skippable) {
        u64 limit = budget ? (budget - st[H_INSNS] + ninstr - 1) / ninstr : ~0ull;
        st[H_FAST_KEY] = fast_key(address, size);
        st[H_FAST_LEFT] = st[H_FAST_BASE] = limit - run;   /* >= 1: the budget is not reached */
    }
}

/* Every execution that is not a fast repeat (kept out of line, so that path saves no
 * registers). */
static NOINLINE void block_slow(u64 *st, void *uc, u64 address, uint32_t size)
{
    u64 key = address + 1;
    sync_run(st);
    /* a repeat is counted in the run, unless the block may lower SP (checked after each) */
    if (key == st[H_LAST_KEY] && !(st[H_FN_REG] && st[st[H_LAST_ROW] + B_LOWERS])) {
        block_repeat(st, uc, address, size);
        return;
    }
    flush_run(st);
    st[H_FAST_KEY] = 0;

    u64 boff = st[H_BLOCKS_OFF];
    u64 prev = st[H_PREV];
    u64 slot;
    u64 *memo = NULL;

    /* The previous block remembers its last successors: a repeated edge costs no hashing. */
    if (prev) {
        u64 *prow = st + boff + (prev - 1) * BLOCK_FIELDS;
        for (int i = 0; i < SUCC_WAYS; i++) {
            u64 *m = prow + B_SUCC + 3 * i;
            if (m[0] == key) {
                memo = m;
                break;
            }
        }
    }
    if (memo) {
        slot = memo[1] - 1;
    } else {
        int64_t s = block_slot(st, uc, address, size);
        if (s < 0) {
            stop(st, uc, STOP_BLOCK_TABLE);
            return;
        }
        slot = (u64)s;
    }

    u64 *row = st + boff + slot * BLOCK_FIELDS;
    row[B_COUNT]++;
    u64 insns = st[H_INSNS] += row[B_NINSTR];

    /* Instruction fetch through the cache model, for blocks in wait-state memory. */
    if (row[B_FETCH])
        fetch_lines(st, row, address, size);

    /* The previous block may have lowered SP: check it against the stack bottom. */
    if (prev && st[H_FN_REG] && st[boff + (prev - 1) * BLOCK_FIELDS + B_LOWERS]) {
        st[H_SP_VALUE] = 0;
        ((reg_fn)(uintptr_t)st[H_FN_REG])(uc, (int)st[H_SP_REGID], &st[H_SP_VALUE]);
        u64 sp = st[H_SP_VALUE] & 0xFFFFFFFFull;
        if (sp < st[H_MIN_SP]) {
            st[H_MIN_SP] = sp;
            st[H_MIN_SP_BLOCK] = st[boff + (prev - 1) * BLOCK_FIELDS + B_KEY] - 1;
            if (sp < st[H_SP_LIMIT]) {
                stop(st, uc, STOP_STACK);
                return;
            }
        }
    }

    /* Edge from the previous block. */
    if (prev)
        note_successor(st + boff + (prev - 1) * BLOCK_FIELDS, slot);
    if (prev == 0) {
        if (st[H_ENTRY] == 0)
            st[H_ENTRY] = key;
    } else if (memo) {
        st[memo[2] + 1]++;
    } else {
        u64 erow = edge_row(st, prev, slot);
        if (!erow) {
            stop(st, uc, STOP_EDGE_TABLE);
            return;
        }
        st[erow + 1]++;
        /* remember it in the previous block's memo (replacing the older entry) */
        u64 *m = st + boff + (prev - 1) * BLOCK_FIELDS + B_SUCC;
        m[3] = m[0]; m[4] = m[1]; m[5] = m[2];
        m[0] = key; m[1] = slot + 1; m[2] = erow;
    }
    st[H_PREV] = slot + 1;
    st[H_CUR] = slot;
    st[H_LAST_KEY] = key;
    st[H_LAST_ROW] = boff + slot * BLOCK_FIELDS;

    u64 budget = st[H_BUDGET];
    if (budget && insns >= budget)
        stop(st, uc, STOP_BUDGET);
}

/* The UC_HOOK_BLOCK callback. */
void block_hook(void *uc, u64 address, uint32_t size, void *user_data)
{
    u64 *st = (u64 *)user_data;
    if (fast_key(address, size) == st[H_FAST_KEY]) {
        if (--st[H_FAST_LEFT] == 0)
            budget_stop(st, uc);
        return;
    }
    block_slow(st, uc, address, size);
}

/* A data access to costed memory, charged to the current block through its range's
 * D-side model: a load that misses costs the range's data-miss cycles; a store allocates
 * the line (write-back, write-allocate) without a charge (the store buffer hides it). */
static inline void data_access(u64 *st, u64 address, int load)
{
    u64 rrow = range_row(st, address);
    if (!rrow)
        return;
    u64 base = cache_base(st[rrow + 3]);
    u64 *row = st + st[H_BLOCKS_OFF] + st[H_CUR] * BLOCK_FIELDS;
    int miss = fetch(st, base, address >> st[base + C_SHIFT]);
    if (load) {
        row[B_DREADS]++;
        if (miss) {
            row[B_DMISS]++;
            row[B_DSTALL] += st[rrow + 5];
        }
    }
}

/* MMIO callbacks for the data part of Flash.  `desc` is a small uint64_t array:
 * [state address, host address of the mapped bytes, emulated base address]. */
u64 mmio_read(void *uc, u64 offset, unsigned size, void *user_data)
{
    const u64 *desc = (const u64 *)user_data;
    u64 *st = (u64 *)(uintptr_t)desc[0];
    const uint8_t *host = (const uint8_t *)(uintptr_t)(desc[1] + offset);
    u64 value = 0;
    (void)uc;
    for (unsigned i = 0; i < size; i++)
        value |= (u64)host[i] << (8 * i);
    data_access(st, desc[2] + offset, 1);
    return value;
}

/* A store to Flash: record the address and stop (the machine raises FlashWriteFault). */
void mmio_write(void *uc, u64 offset, unsigned size, u64 value, void *user_data)
{
    const u64 *desc = (const u64 *)user_data;
    u64 *st = (u64 *)(uintptr_t)desc[0];
    (void)size;
    (void)value;
    if (st[H_STOPPED] == 0) {
        st[H_STOPPED] = STOP_FLASH_WRITE;
        st[H_FAULT_ADDR] = desc[2] + offset;
    }
    ((stop_fn)(uintptr_t)st[H_FN_STOP])(uc);
}

/* Trap hooks (mcusim/traps.py): one UC_HOOK_CODE per checked instruction, registered with
 * begin == end so Unicorn calls it only there.  `desc` is that site's descriptor:
 * [kind (1 alignment, 2 division), register id, uc_reg_read, uc_emu_stop, report address,
 *  host address of SCB->CCR (0: none), value scratch, spare].  On a fault the first one is
 * recorded in the report [kind, pc, value] and the run stops before the instruction. */
void trap_hook(void *uc, u64 address, uint32_t size, void *user_data)
{
    u64 *d = (u64 *)user_data;
    (void)size;
    d[6] = 0;
    ((reg_fn)(uintptr_t)d[2])(uc, (int)d[1], &d[6]);
    u64 value = d[6] & 0xFFFFFFFFull;
    int bad;
    if (d[0] == 1)
        bad = (value & 3) != 0;
    else
        bad = value == 0 && d[5] != 0 && (*(const uint32_t *)(uintptr_t)d[5] & (1u << 4));
    if (!bad)
        return;
    u64 *report = (u64 *)(uintptr_t)d[4];
    if (report[0] == 0) {
        report[0] = d[0];
        report[1] = address;
        report[2] = value;
    }
    ((stop_fn)(uintptr_t)d[3])(uc);
}

/* MMIO callbacks for RAM behind a data cache (the M7's SRAM1/SRAM2): plain reads and writes
 * of the host bytes, plus the D-cache model.  `desc` as for the Flash callbacks; a read is
 * the Flash data read. */
u64 ram_read(void *uc, u64 offset, unsigned size, void *user_data)
{
    return mmio_read(uc, offset, size, user_data);
}

void ram_write(void *uc, u64 offset, unsigned size, u64 value, void *user_data)
{
    const u64 *desc = (const u64 *)user_data;
    u64 *st = (u64 *)(uintptr_t)desc[0];
    uint8_t *host = (uint8_t *)(uintptr_t)(desc[1] + offset);
    (void)uc;
    for (unsigned i = 0; i < size; i++)
        host[i] = (uint8_t)(value >> (8 * i));
    data_access(st, desc[2] + offset, 0);
}

/* Significant bits of the 32-bit `v` (of its magnitude when `is_signed`). */
static inline u64 magnitude_bits(u64 v, u64 is_signed)
{
    uint32_t x = (uint32_t)v;
    if (is_signed && (x >> 31))
        x = (uint32_t)(0u - x);
    return x ? 32 - (u64)__builtin_clz(x) : 0;
}

/* UC_HOOK_CODE callback registered on the address of one SDIV/UDIV: it runs before the
 * division and adds its operand-dependent cycles to the current block.  `desc`: [state
 * address, register id of the dividend, of the divisor, signed].  Cycles grow linearly with
 * the quotient bits clz(|divisor|) - clz(|dividend|) + 1 from H_DIV_MIN (none, or a
 * divisor of 0) to H_DIV_MAX (32), rounded up (mcusim.native.division_cycles). */
void division_hook(void *uc, u64 address, uint32_t size, void *user_data)
{
    const u64 *desc = (const u64 *)user_data;
    u64 *st = (u64 *)(uintptr_t)desc[0];
    u64 fastest = st[H_DIV_MIN];
    (void)address;
    (void)size;
    if (!fastest || !st[H_FN_REG])
        return;
    st[H_DIV_A] = st[H_DIV_B] = 0;
    ((reg_fn)(uintptr_t)st[H_FN_REG])(uc, (int)desc[1], &st[H_DIV_A]);
    ((reg_fn)(uintptr_t)st[H_FN_REG])(uc, (int)desc[2], &st[H_DIV_B]);
    u64 bits_b = magnitude_bits(st[H_DIV_B], desc[3]), cycles = fastest;
    if (bits_b) {
        u64 bits_a = magnitude_bits(st[H_DIV_A], desc[3]);
        u64 q = bits_a >= bits_b ? bits_a - bits_b + 1 : 0;
        cycles = fastest + ((st[H_DIV_MAX] - fastest) * q + 31) / 32;
    }
    u64 *row = st + st[H_BLOCKS_OFF] + st[H_CUR] * BLOCK_FIELDS;
    row[B_DIVCYC] += cycles;
    row[B_DIVN]++;
}
