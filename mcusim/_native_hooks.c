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
#define INLINE inline __attribute__((always_inline))
/* Built with -DMCUSIM_HOOKS_REFERENCE (tests only), every block goes through block_enter, a
 * repeat like any other block, and every fetch line through fetch() one by one: none of the
 * shortcuts below, for comparing their counts against. */
#ifdef MCUSIM_HOOKS_REFERENCE
#define REFERENCE 1
#else
#define REFERENCE 0
#endif
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
#define B_LOWERS 7   /* 1 when an instruction of the block may lower SP (stack check on) */
#define B_SUCC 8     /* successor memo: SUCC_WAYS x (dst key, dst row, state index of the
                      * edge's count), the newer first */
#define B_FETCH 14   /* 1: fetches modelled (B_CBASE) and skippable on repeats */
#define B_SELF 15    /* edge row of the block's self edge, 0 = not made yet */
#define SUCC_WAYS 2

static inline void stop(u64 *st, void *uc, u64 why)
{
    st[H_STOPPED] = why;
    ((stop_fn)(uintptr_t)st[H_FN_STOP])(uc);
}

/* State index of the tag/LRU-stamp pairs of the set of `line` in the cache at `c`. */
static INLINE u64 set_row(const u64 *c, u64 line)
{
    u64 sets = c[C_SETS];
    u64 set = sets & (sets - 1) ? line % sets : line & (sets - 1);   /* no division if 2^k */
    return c[C_TAGS] + set * c[C_WAYS] * 2;
}

/* The LRU set of `line` scanned (see cache_access), with the LRU clock at `tick`. */
static NOINLINE int cache_scan(u64 *st, u64 *c, u64 line, u64 tick)
{
    u64 ways = c[C_WAYS], row = set_row(c, line), key = line + 1, w;
    u64 *pred = st + c[C_PRED] + (line & (PRED_ENTRIES - 1));
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

/* Look `line` up in the cache described at `c` (which has an array); 1 on a hit.  The LRU
 * set is scanned only on a miss: a way predictor (the way where the line was last seen, by
 * line number) finds hits directly.  The result and every LRU stamp are exactly those of a
 * full scan, since a line is held by at most one way. */
static INLINE int cache_access(u64 *st, u64 *c, u64 line)
{
    u64 tick = ++st[H_TICK];
    u64 w = st[c[C_PRED] + (line & (PRED_ENTRIES - 1))], row = set_row(c, line);
    if (w < c[C_WAYS] && st[row + 2 * w] == line + 1) {
        st[row + 2 * w + 1] = tick;
        return 1;
    }
    return cache_scan(st, c, line, tick);
}

/* The cache array of `c` (which has one) looked up for the line with key `key`: one of its two
 * most recently touched lines hits without a lookup -- loops re-fetch the same lines; only the
 * order of those two lines in the LRU stack is then approximate.  A miss allocates the line.
 * C_EPOCH counts the changes of that pair (see block_slow). */
static INLINE int array_access(u64 *st, u64 *c, u64 key)
{
    if (key == c[C_MRU1] || key == c[C_MRU2])
        return 1;
    int hit = cache_access(st, c, key - 1);
    c[C_MRU2] = c[C_MRU1];
    c[C_MRU1] = key;
    c[C_EPOCH]++;
    return hit;
}

/* One access to `line` through the cache model at `c`; 1 on a miss.  In order: the
 * current-line buffer (descriptors with C_FLAGS bit 1: re-reading the line read last hits,
 * as the Flash interface keeps the line it read), the cache array (array_access), the
 * one-line prefetch buffer (C_FLAGS bit 0: holds the line after the one read last, C_CUR + 1;
 * C_CUR is 0 before any read, and line 0 is in no costed range).  A miss, or a hit in the
 * prefetch buffer, allocates the line in the array. */
static inline int fetch(u64 *st, u64 *c, u64 line)
{
    u64 key = line + 1, flags = c[C_FLAGS];
    if ((flags & 2) && key == c[C_CUR])
        return 0;
    int hit = c[C_SETS] ? array_access(st, c, key) : 0;
    if (!hit && (flags & 1) && key == c[C_CUR] + 1)   /* the prefetch buffer's line */
        hit = 1;
    c[C_CUR] = key;
    return !hit;
}

/* The accesses to the consecutive lines with keys `key`..`last` through the model at `c`, in
 * a block's instruction fetch whose lines start at `first` and whose lines before `key`
 * were hits that changed nothing (see fetch_hits); the misses.  The same as fetch() line by
 * line: only the first line can hit in the current-line buffer (after it, that buffer holds
 * the line before), and with a prefetch buffer every further line hits there (it holds the
 * line after the one read just before), so only the array sees those. */
static INLINE u64 fetch_run(u64 *st, u64 *c, u64 first, u64 key, u64 last)
{
    u64 flags = c[C_FLAGS], sets = c[C_SETS], misses = 0;
    if (key == first) {
        if ((flags & 2) && key == c[C_CUR]) {
            if (key == last)
                return 0;         /* the line read last, read again: nothing changes */
        } else {
            int hit = sets ? array_access(st, c, key) : 0;
            misses = !hit && !((flags & 1) && key == c[C_CUR] + 1);
        }
        key++;
    }
    for (; key <= last; key++) {
        int hit = sets ? array_access(st, c, key) : 0;
        misses += !hit && !(flags & 1);
    }
    c[C_CUR] = last;
    return misses;
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
static u64 fetch_skippable(const u64 *c, u64 first, u64 last)
{
    u64 sets = c[C_SETS], ways = c[C_WAYS];
    if (sets == 0)
        return 0;
    u64 lines = last - first + 2;
    return (lines + sets - 1) / sets <= ways;
}

/* Block table slot of the row at state index `row`. */
static inline u64 slot_of(const u64 *st, u64 row)
{
    return (row - st[H_BLOCKS_OFF]) / BLOCK_FIELDS;
}

/* Row (state index) of the block starting at `address`, recorded at first sight with what
 * every execution needs precomputed: its instructions, whether it may lower SP (only with
 * the stack check on), its I-side cache and fetch lines at this size; 0 when the table is
 * full. */
static NOINLINE u64 block_row(u64 *st, void *uc, u64 address, uint32_t size)
{
    u64 tcap = st[H_TCAP], mask = tcap - 1, boff = st[H_BLOCKS_OFF], key = address + 1;
    u64 h = ((address >> 1) * GOLD32) & mask;
    for (u64 probes = 0; probes < tcap; probes++, h = (h + 1) & mask) {
        u64 *row = st + boff + h * BLOCK_FIELDS;
        if (row[B_KEY] == key)
            return boff + h * BLOCK_FIELDS;
        if (row[B_KEY] == 0) {
            u64 nbytes = size > SCRATCH_WORDS * 8 ? SCRATCH_WORDS * 8 : size, lowers;
            u64 *scratch = st + st[H_SCRATCH];
            ((read_fn)(uintptr_t)st[H_FN_READ])(uc, address, scratch, nbytes);
            row[B_KEY] = key;
            st[st[H_BUSED_OFF] + st[H_NBLOCKS]++] = h;
            row[B_SIZE] = size;
            row[B_NINSTR] = count_thumb(scratch, nbytes, &lowers);
            row[B_LOWERS] = lowers && st[H_FN_REG];
            u64 rrow = range_row(st, address);
            if (rrow) {
                u64 cbase = cache_base(st[rrow + 2]), shift = st[cbase + C_SHIFT];
                row[B_RANGE] = rrow;
                row[B_CBASE] = cbase;
                row[B_LINE0] = (address >> shift) + 1;
                row[B_LINEN] = ((address + size - 1) >> shift) + 1;
                row[B_FETCH] = fetch_skippable(st + cbase, row[B_LINE0], row[B_LINEN]);
                row[B_FSIZE] = row[B_LINE0] <= row[B_LINEN] ? size : ~0ull;
            }
            return boff + h * BLOCK_FIELDS;
        }
    }
    return 0;
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

/* The block's fetch lines: worked out at first sight for its size (Unicorn may translate the
 * same start with another size: then they are worked out here). */
static INLINE void block_lines(const u64 *row, const u64 *c, u64 address, uint32_t size,
                               u64 *first, u64 *last)
{
    *first = row[B_LINE0];
    *last = row[B_LINEN];
    if (size != row[B_SIZE]) {
        *first = (address >> c[C_SHIFT]) + 1;
        *last = ((address + size - 1) >> c[C_SHIFT]) + 1;
    }
}

/* Most fetches hit in a way that changes nothing but the line buffers: the first line is
 * the one read last (with a current-line buffer) or one of the array's two most recently
 * touched lines, and every further line is one of those two.  Returns 0 (and the line
 * buffers updated, as fetch_run would) when that is the case, else the key of the first
 * line that needs the model (nothing changed).  `first` <= `last`. */
static INLINE u64 fetch_hits(u64 *c, u64 first, u64 last)
{
    u64 m1 = c[C_MRU1], m2 = c[C_MRU2], key = first;   /* 0 (no line) without an array */
    if (!(key == c[C_CUR] && (c[C_FLAGS] & 2)) && key != m1 && key != m2)
        return key;
    for (key++; key <= last; key++)
        if (key != m1 && key != m2)
            return key;
    c[C_CUR] = last;
    return 0;
}

/* The fetch model run over the block's lines from `key` (see fetch_run); each missed line
 * costs the range's fetch cycles (the Flash wait states). */
static INLINE void fetch_model(u64 *st, u64 *row, u64 *c, u64 first, u64 key, u64 last)
{
    u64 misses = fetch_run(st, c, first, key, last);
    if (misses) {
        row[B_IMISS] += misses;
        row[B_ISTALL] += misses * st[row[B_RANGE] + 4];
    }
}

/* Instruction fetch of the block's lines through its range's I-side model (an empty block
 * fetches nothing). */
static INLINE void fetch_block(u64 *st, u64 *row, u64 address, uint32_t size)
{
    u64 *c = st + row[B_CBASE], first, last;
    block_lines(row, c, address, size, &first, &last);
    if (REFERENCE) {
        u64 misses = 0;
        for (u64 key = first; key <= last; key++)
            misses += (u64)fetch(st, c, key - 1);
        row[B_IMISS] += misses;
        row[B_ISTALL] += misses * st[row[B_RANGE] + 4];
        return;
    }
    if (first > last)
        return;
    u64 key = fetch_hits(c, first, last);
    if (key)
        fetch_model(st, row, c, first, key, last);
}

/* Branch outcome changes: `row` went to the block at row `next` this time. */
static inline void record_successor(u64 *row, u64 next)
{
    if (row[B_LAST_SUCC] != next) {
        if (row[B_LAST_SUCC])
            row[B_SWITCHES]++;
        row[B_LAST_SUCC] = next;
    }
}

/* The same, counted only when H_SWITCHES is set (the core model uses them). */
static inline void note_successor(const u64 *st, u64 *row, u64 next)
{
    if (st[H_SWITCHES])
        record_successor(row, next);
}

/* Repeats of one block (a loop of one block) are counted in H_RUN and added to the block's
 * count, its self edge and H_LEFT only when the run ends (a different block, a stop, or
 * read_counts on the Python side).  Past the repeats that need the fetch model, the hook
 * arms H_FAST_KEY and H_FAST_SIZE with the block's address and size, and H_FAST_LEFT (and H_FAST_BASE) with
 * the repeats left before the instruction budget is reached; then a repeat is one compare
 * and one decrement, and the repeats it counted are H_FAST_BASE - H_FAST_LEFT, moved into
 * H_RUN by sync_run.  H_RUN > 0 whenever H_FAST_KEY is armed (not NO_FAST, an address no
 * block has). */
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
        st[H_LEFT] -= run * row[B_NINSTR];
        st[H_RUN] = 0;
    }
}

/* The end of a run of repeats: counted, and the fast path disarmed. */
static NOINLINE void end_run(u64 *st)
{
    flush_run(st);
    st[H_FAST_KEY] = NO_FAST;
}

static NOINLINE void budget_stop(u64 *st, void *uc)
{
    end_run(st);
    stop(st, uc, STOP_BUDGET);
}

/* A repeat of the block before that needs more than counting: the first one (which finds
 * the self edge) and those whose fetch lines go through the cache model. */
static NOINLINE void block_repeat(u64 *st, void *uc, u64 address, uint32_t size)
{
    u64 cur = st[H_LAST_ROW], *row = st + cur;
    sync_run(st);
    u64 run = st[H_RUN];
    if (run == 0) {
        if (!row[B_SELF]) {
            u64 slot = slot_of(st, cur);
            row[B_SELF] = edge_row(st, slot + 1, slot);
            if (!row[B_SELF]) {
                row[B_COUNT]++;
                st[H_LEFT] -= row[B_NINSTR];
                stop(st, uc, STOP_EDGE_TABLE);
                return;
            }
        }
        st[H_RUN_EDGE] = row[B_SELF];
        note_successor(st, row, cur);
    }
    int skippable = row[B_FETCH] && size == row[B_SIZE];
    if (row[B_CBASE] && !(run && skippable))
        fetch_block(st, row, address, size);
    st[H_RUN] = ++run;
    u64 ninstr = row[B_NINSTR];
    if ((int64_t)(st[H_LEFT] - run * ninstr) <= 0) {
        budget_stop(st, uc);
        return;
    }
    /* From the next repeat on the fetches are skippable (or not modelled): arm the fast path
     * for the repeats until the budget is reached (H_LEFT > 0 here). */
    if (!row[B_CBASE] || skippable) {
        u64 limit = ninstr ? (st[H_LEFT] + ninstr - 1) / ninstr : ~0ull;
        st[H_FAST_KEY] = address;
        st[H_FAST_SIZE] = size;
        st[H_FAST_LEFT] = st[H_FAST_BASE] = limit - run;   /* >= 1: the budget is not reached */
    }
}

/* A core register's value (Unicorn's register id `regid`; `scratch`: a word for
 * uc_reg_read, which writes 4 bytes). */
static inline u64 read_reg(u64 *st, void *uc, u64 regid, u64 *scratch)
{
    *scratch = 0;
    ((reg_fn)(uintptr_t)st[H_FN_REG])(uc, (int)regid, scratch);
    return *scratch & 0xFFFFFFFFull;
}

/* SP after the block at row `prow`, which may have lowered it: the lowest SP seen and the
 * block that lowered it to there are updated. */
static u64 note_sp(u64 *st, void *uc, const u64 *prow)
{
    u64 sp = read_reg(st, uc, st[H_SP_REGID], &st[H_SP_VALUE]);
    if (sp < st[H_MIN_SP]) {
        st[H_MIN_SP] = sp;
        st[H_MIN_SP_BLOCK] = prow[B_KEY] - 1;
    }
    return sp;
}

/* The previous block (row `prow`) may have lowered SP: check it against the stack bottom;
 * 1 when the run stops. */
static NOINLINE int stack_check(u64 *st, void *uc, const u64 *prow)
{
    if (note_sp(st, uc, prow) < st[H_SP_LIMIT]) {
        stop(st, uc, STOP_STACK);
        return 1;
    }
    return 0;
}

/* The edge from the block at row `prev` to the one at `row` (start address + 1 `key`), seen
 * for the first time since the previous block's memo last held it: created (or found) in
 * the edge table, counted, and put in the memo in place of its older entry.  Before the first
 * block of a run there is no edge: the entry is recorded.  0 when the edge table is full. */
static NOINLINE int new_edge(u64 *st, void *uc, u64 prev, u64 row, u64 key)
{
    if (prev == st[H_BLOCKS_OFF] - BLOCK_FIELDS) {
        if (st[H_ENTRY] == 0)
            st[H_ENTRY] = key;
        return 1;
    }
    u64 erow = edge_row(st, slot_of(st, prev) + 1, slot_of(st, row));
    if (!erow) {
        stop(st, uc, STOP_EDGE_TABLE);
        return 0;
    }
    st[erow + 1]++;
    if (prev == row)          /* a repeat (of a block that may lower SP): not memoised, so */
        return 1;             /* that a memo hit in block_slow is never a repeat */
    u64 *m = st + prev + B_SUCC;
    m[3] = m[0]; m[4] = m[1]; m[5] = m[2];
    m[0] = key; m[1] = row; m[2] = erow + 1;
    return 1;
}

/* ---- Counted loops (mcusim/loops.py) -------------------------------------------------
 * A counted loop's block is translated without hooks, so its executions reach no block hook.
 * loop_hook, a code hook on its closing branch, runs in the hooked block that enters it: it
 * works out from the induction register how many times the loop will run and leaves them
 * pending (H_LOOP); the block hook of the next block counts them (loop_settle) as it would
 * have counted each one -- the entry edge, the count, the self edge, the fetches of the
 * first two executions (the rest are skippable: checked first), the budget.  When the loop
 * would not end within one sweep of its register, or would exhaust the budget, the hook
 * stops the run before the branch instead (H_RESUME): the machine drops the loop's
 * hook-free translation and resumes at the branch, whose block then counts nothing, and the
 * loop runs with the hooks.  So does a loop whose entries turn out to run too few
 * executions to pay for the hook (H_RETIRE): the machine removes its hook as well. */

/* Executions of the loop `d` from its block's next start on, when the compare of the
 * execution that just ended saw `seen` (against `target`): 0 when it loops no more, ~0 when
 * it would not end before its register wraps around.  The values compared are `seen` +
 * j * step for the j-th execution to come: with `!=` the first one equal to `target` ends
 * the loop; with an ordered condition (L_COND), the first one past `target`. */
static u64 loop_trips(const u64 *d, uint32_t seen, uint32_t target)
{
    int64_t step = (int64_t)d[L_STEP];
    u64 cond = d[L_COND];
    if (cond == 0) {
        if (seen == target)
            return 0;
        uint32_t delta = step > 0 ? target - seen : seen - target;
        u64 mag = step > 0 ? (u64)step : (u64)-step;
        return delta % mag ? ~0ull : delta / mag;
    }
    int is_signed = cond >= 5, less = (cond - 1) % 4 < 2, strict = (cond - 1) % 2 == 0;
    int64_t x = is_signed ? (int64_t)(int32_t)seen : (int64_t)seen;
    int64_t t = is_signed ? (int64_t)(int32_t)target : (int64_t)target;
    int64_t lo = is_signed ? -(1ll << 31) : 0, hi = is_signed ? (1ll << 31) - 1 : (1ll << 32) - 1;
    int64_t gap = less ? t - x : x - t, mag = less ? step : -step;
    if (gap < 0 || (strict && gap == 0))
        return 0;                                 /* the condition fails now */
    if (mag <= 0)
        return ~0ull;                             /* moving away: not before a wrap */
    int64_t n = strict ? (gap + mag - 1) / mag : gap / mag + 1;
    int64_t last = less ? x + n * mag : x - n * mag;
    return last < lo || last > hi ? ~0ull : (u64)n;
}

/* Executions of the pending loop counted as the block hook would have counted each one:
 * `n` of them, entered from row `prev`; 1 when the run stops (a table is full). */
static NOINLINE int loop_account(u64 *st, void *uc, const u64 *d, u64 prev, u64 lrow, u64 n)
{
    u64 *row = st + lrow, key = d[L_START] + 1;
    row[B_LOWERS] = 0;
    if (n == 0) {
        st[H_LAST_ROW] = prev;
        return 0;
    }
    row[B_COUNT] += n;
    st[H_LEFT] -= n * row[B_NINSTR];
    if (row[B_CBASE])
        fetch_block(st, row, d[L_START], (uint32_t)d[L_SIZE]);
    u64 *m = st + prev + B_SUCC;          /* the entering block's memo holds the edge */
    note_successor(st, st + prev, lrow);  /* after its first entry */
    if (m[0] == key)
        st[m[2]]++;
    else if (m[3] == key)
        st[m[5]]++;
    else if (!new_edge(st, uc, prev, lrow, key))
        return 1;
    st[H_LAST_ROW] = lrow;
    st[H_LOOP_RUNS]++;
    if (n == 1)
        return 0;
    if (!row[B_SELF]) {
        u64 slot = slot_of(st, lrow);
        row[B_SELF] = edge_row(st, slot + 1, slot);
        if (!row[B_SELF]) {
            stop(st, uc, STOP_EDGE_TABLE);
            return 1;
        }
    }
    st[row[B_SELF] + 1] += n - 1;
    note_successor(st, row, lrow);
    if (row[B_CBASE])
        fetch_block(st, row, d[L_START], (uint32_t)d[L_SIZE]);
    return 0;
}

/* The pending loop's executions counted, at the start of the block at `address`: none when
 * that is the loop itself (then its translation has hooks), else all of them.  1 when the
 * run stops. */
static NOINLINE int loop_settle(u64 *st, void *uc, u64 address)
{
    const u64 *d = (const u64 *)(uintptr_t)st[H_LOOP];
    st[H_LOOP] = 0;
    return loop_account(st, uc, d, st[H_LOOP_PREV], st[H_LAST_ROW],
                        address == d[L_START] ? 0 : st[H_LOOP_N]);
}

/* Stop before the closing branch of loop `d` (the machine resumes there with the loop's
 * hook-free translation dropped); the entering block at `prow` takes the slow path next. */
static void loop_fallback(u64 *st, void *uc, u64 *prow, const u64 *d, u64 address)
{
    st[H_RESUME] = address;
    st[H_RESUME_LOOP] = (u64)(uintptr_t)d;
    prow[B_LOWERS] |= RESUMING;
    ((stop_fn)(uintptr_t)st[H_FN_STOP])(uc);
}

/* The block the run resumed at (see loop_fallback): the rest of the entering block, counted
 * with it already; 1 when `address` is that block. */
static NOINLINE int loop_resumed(u64 *st, u64 address)
{
    u64 at = st[H_RESUME];
    st[H_RESUME] = 0;
    st[st[H_LAST_ROW] + B_LOWERS] &= ~RESUMING;
    return address == at;
}

/* UC_HOOK_CODE callback on a counted loop's closing branch (user data: its descriptor,
 * mcusim.native.loop_descriptor).  In the loop's own block (translated with hooks after a
 * drop) it does nothing. */
void loop_hook(void *uc, u64 address, uint32_t size, void *user_data)
{
    u64 *d = (u64 *)user_data, *st = (u64 *)(uintptr_t)d[L_STATE];
    u64 prev = st[H_LAST_ROW], *prow = st + prev;
    (void)size;
    if (REFERENCE || !d[L_SIZE] || d[L_HOOKED] || st[H_LOOP] || st[H_STOPPED] || st[H_RESUME]
            || prow[B_KEY] == d[L_START] + 1)
        return;
    u64 r = read_reg(st, uc, d[L_REG], &d[L_SCRATCH]);
    u64 target = d[L_CMP_REG] == NO_REG ? d[L_CMP_VALUE]
                                        : read_reg(st, uc, d[L_CMP_REG], &d[L_SCRATCH]);
    uint32_t seen = (uint32_t)(d[L_BEFORE] ? r - d[L_STEP] : r);
    u64 n = loop_trips(d, seen, (uint32_t)target), *stats = (u64 *)(uintptr_t)d[L_STATS];
    if (stats[0] >= LOOP_MIN_ENTRIES && stats[1] < st[H_LOOP_MIN] * stats[0]) {
        st[H_RETIRE] = 1;                         /* its entries run too few executions to */
        loop_fallback(st, uc, prow, d, address);  /* pay for this hook: retire it */
        return;
    }
    stats[0]++;
    if (n == 0)
        return;                                   /* the branch falls through */
    u64 lrow = block_row(st, uc, d[L_START], (uint32_t)d[L_SIZE]);
    u64 *row = st + lrow;
    if (n == ~0ull || !lrow || row[B_SIZE] != d[L_SIZE] || row[B_LOWERS]
            || (row[B_CBASE] && !row[B_FETCH])
            || (int64_t)(st[H_LEFT] - n * row[B_NINSTR]) <= 0) {
        loop_fallback(st, uc, prow, d, address);
        return;
    }
    /* the entering block's stack check, as at the loop's start; below the bottom, the loop
     * runs with its hook, which stops the run */
    if (prow[B_LOWERS] && note_sp(st, uc, prow) < st[H_SP_LIMIT]) {
        loop_fallback(st, uc, prow, d, address);
        return;
    }
    stats[1] += n;
    st[H_LOOP] = (u64)(uintptr_t)d;
    st[H_LOOP_N] = n;
    st[H_LOOP_R] = r;
    st[H_LOOP_PREV] = prev;
    st[H_LAST_ROW] = lrow;                        /* its data accesses are charged to it */
    row[B_LOWERS] = LOOP_PENDING;                 /* the next block takes the slow path */
}

/* 1 when loop_hook counts loops (0 in the reference build: no counted loops). */
int loops_supported(void)
{
    return !REFERENCE;
}

/* After a run that stopped while a counted loop's executions were pending (a fault inside
 * it, a timeout): the executions that started, from its induction register and the PC
 * where the run stopped (an execution stopped at or before the update started but is not
 * in the register).  Called from Python (mcusim.native.settle_stopped_loop). */
void loop_stopped(u64 *st, void *uc, u64 pc)
{
    const u64 *d = (const u64 *)(uintptr_t)st[H_LOOP];
    if (!d)
        return;
    u64 scratch, r = read_reg(st, uc, d[L_REG], &scratch);
    int64_t step = (int64_t)d[L_STEP];
    uint32_t moved = step > 0 ? (uint32_t)(r - st[H_LOOP_R]) : (uint32_t)(st[H_LOOP_R] - r);
    u64 n = moved / (u64)(step > 0 ? step : -step);
    if (d[L_START] <= pc && pc <= d[L_UPDATE])
        n++;
    if (n > st[H_LOOP_N])
        n = st[H_LOOP_N];
    st[H_LOOP] = 0;
    loop_account(st, uc, d, st[H_LOOP_PREV], st[H_LAST_ROW], n);
}

/* Entering a block: every case (block_slow takes the common ones; the arguments in the
 * order of block_hook's, so that it jumps here without moving them). */
static NOINLINE void block_enter(void *uc, u64 address, uint32_t size, u64 *st)
{
    if (st[H_LOOP] && loop_settle(st, uc, address))
        return;
    if (st[H_RESUME] && loop_resumed(st, address))
        return;
    u64 key = address + 1, prev = st[H_LAST_ROW], *prow = st + prev;
    /* a repeat is counted in the run, unless the block may lower SP (checked after each) */
    if (!REFERENCE && key == prow[B_KEY] && !prow[B_LOWERS]) {
        block_repeat(st, uc, address, size);
        return;
    }
    if (st[H_RUN])
        end_run(st);

    /* The previous block remembers its last successors: a repeated edge costs no hashing. */
    u64 cur, count;
    if (prow[B_SUCC] == key) {
        cur = prow[B_SUCC + 1];
        count = prow[B_SUCC + 2];
    } else if (prow[B_SUCC + 3] == key) {
        cur = prow[B_SUCC + 4];
        count = prow[B_SUCC + 5];
    } else {
        cur = block_row(st, uc, address, size);
        if (!cur) {
            stop(st, uc, STOP_BLOCK_TABLE);
            return;
        }
        count = 0;
    }

    u64 *row = st + cur;
    row[B_COUNT]++;
    int64_t rest = (int64_t)(st[H_LEFT] -= row[B_NINSTR]);

    /* Instruction fetch through the cache model, for blocks in wait-state memory. */
    if (row[B_CBASE])
        fetch_block(st, row, address, size);

    if (prow[B_LOWERS] && stack_check(st, uc, prow))
        return;

    note_successor(st, prow, cur);
    if (count)
        st[count]++;
    else if (!new_edge(st, uc, prev, cur, key))
        return;
    st[H_LAST_ROW] = cur;

    if (rest <= 0)
        stop(st, uc, STOP_BUDGET);
}

/* The end of block_slow when the block's fetch needs the model from line `key` on: the
 * model, then the budget check. */
static NOINLINE void fetch_model_last(u64 *st, void *uc, u64 *row, u64 key)
{
    fetch_model(st, row, st + row[B_CBASE], row[B_LINE0], key, row[B_LINEN]);
    if ((int64_t)st[H_LEFT] <= 0)
        stop(st, uc, STOP_BUDGET);
}

/* The accounting of a block entered along the memoised edge to row `cur` (edge count at
 * state index `count`) from row `prev`, its fetch settled up to line `k` (0: all of it). */
static INLINE void memo_enter(u64 *st, void *uc, u64 prev, u64 cur, u64 count, u64 k,
                              const int switches)
{
    u64 *row = st + cur;
    row[B_COUNT]++;
    int64_t rest = (int64_t)(st[H_LEFT] -= row[B_NINSTR]);
    if (switches)
        record_successor(st + prev, cur);
    st[count]++;
    st[H_LAST_ROW] = cur;
    if (k) {
        fetch_model_last(st, uc, row, k);
        return;
    }
    if (rest <= 0)
        stop(st, uc, STOP_BUDGET);
}

/* block_slow's case of a fetch whose lines are not known to be in the MRU pair: checked
 * against the line buffers and the pair (out of line, so that block_slow's common case
 * keeps everything in scratch registers). */
static NOINLINE void memo_enter_checked(void *uc, u64 cur, u64 count, u64 *st, int switches)
{
    u64 prev = st[H_LAST_ROW], *row = st + cur, *c = st + row[B_CBASE];
    u64 k = fetch_hits(c, row[B_LINE0], row[B_LINEN]);
    if (!k && (row[B_LINE0] == c[C_MRU1] || row[B_LINE0] == c[C_MRU2]))
        row[B_EPOCH] = c[C_EPOCH];
    if (switches)
        memo_enter(st, uc, prev, cur, count, k, 1);
    else
        memo_enter(st, uc, prev, cur, count, k, 0);
}

/* Every execution that is not a fast repeat (out of line in the two block_slow_* below, so
 * that the fast path saves no registers).  The common case -- a block entered along an edge
 * its predecessor's memo holds, no run of repeats to end, no stack check, fetches that hit in
 * the line buffers or the MRU pair -- reads only the two rows and the cache descriptor and
 * calls nothing; the rest goes to block_enter (which sends repeats to block_repeat: the memo never holds the
 * block itself).  A block whose fetch lines were all in the cache's MRU pair keeps the
 * pair's epoch (B_EPOCH): while the pair is unchanged (C_EPOCH), the fetch needs no check,
 * only the current-line buffer moves to its last line.  `switches`: a compile-time 0 or 1,
 * whether branch-outcome changes are counted (the two entry points below). */
static INLINE void block_slow(void *uc, u64 address, uint32_t size, u64 *st, const int switches)
{
    u64 key = address + 1, prev = st[H_LAST_ROW], *prow = st + prev, cur, count;
    if (prow[B_SUCC] == key) {
        cur = prow[B_SUCC + 1];
        count = prow[B_SUCC + 2];
    } else if (prow[B_SUCC + 3] == key) {
        cur = prow[B_SUCC + 4];
        count = prow[B_SUCC + 5];
    } else {
        block_enter(uc, address, size, st);
        return;
    }
    u64 *row = st + cur;
    if (st[H_RUN] | prow[B_LOWERS]) {
        block_enter(uc, address, size, st);
        return;
    }
    if (row[B_CBASE]) {
        /* B_FSIZE: the recorded size when the block has fetch lines (else never a size) */
        if (size != row[B_FSIZE]) {
            block_enter(uc, address, size, st);
            return;
        }
        u64 *c = st + row[B_CBASE];
        if (row[B_EPOCH] != c[C_EPOCH]) {
            memo_enter_checked(uc, cur, count, st, switches);
            return;
        }
        c[C_CUR] = row[B_LINEN];
    }
    /* (the fetch model, when needed, runs last: it changes only the caches and the row's
     * fetch misses, so the result is that of the order in block_enter) */
    memo_enter(st, uc, prev, cur, count, 0, switches);
}

static NOINLINE void block_slow_switches(void *uc, u64 address, uint32_t size, u64 *st)
{
    block_slow(uc, address, size, st, 1);
}

static NOINLINE void block_slow_plain(void *uc, u64 address, uint32_t size, u64 *st)
{
    block_slow(uc, address, size, st, 0);
}

/* The UC_HOOK_BLOCK callback; `switches` as for block_slow. */
static INLINE void block_hook_body(void *uc, u64 address, uint32_t size, u64 *st,
                                   const int switches)
{
    if (REFERENCE) {
        block_enter(uc, address, size, st);
        return;
    }
    if (address == st[H_FAST_KEY] && size == (uint32_t)st[H_FAST_SIZE]) {
        if (--st[H_FAST_LEFT] == 0)
            budget_stop(st, uc);
        return;
    }
    if (switches)            /* same argument registers: a plain jump */
        block_slow_switches(uc, address, size, st);
    else
        block_slow_plain(uc, address, size, st);
}

/* The block hook for core models that use branch-outcome changes (H_SWITCHES set). */
void block_hook(void *uc, u64 address, uint32_t size, void *user_data)
{
    block_hook_body(uc, address, size, (u64 *)user_data, 1);
}

/* The block hook for the others: the same counts, no switches. */
void block_hook_no_switches(void *uc, u64 address, uint32_t size, void *user_data)
{
    block_hook_body(uc, address, size, (u64 *)user_data, 0);
}

/* A data access to costed memory, charged to the current block through its range's
 * D-side model: a load that misses costs the range's data-miss cycles; a store allocates
 * the line (write-back, write-allocate) without a charge (the store buffer hides it).
 * `desc` (see mmio_read) keeps the range found last, so a mapping inside one range (the
 * usual case) does not search the ranges again. */
static inline void data_access(u64 *st, u64 *desc, u64 address, int load)
{
    u64 rrow = desc[3];
    if (!(rrow && st[rrow] <= address && address < st[rrow + 1])) {
        rrow = desc[3] = range_row(st, address);
        if (!rrow)
            return;
    }
    u64 *c = st + cache_base(st[rrow + 3]);
    u64 *row = st + st[H_LAST_ROW];
    int miss = fetch(st, c, address >> c[C_SHIFT]);
    if (load) {
        row[B_DREADS]++;
        if (miss) {
            row[B_DMISS]++;
            row[B_DSTALL] += st[rrow + 5];
        }
    }
}

/* The `size` bytes at `host` as a little-endian value (one copy on a little-endian host). */
static inline u64 load_le(const uint8_t *host, unsigned size)
{
    uint8_t b1; uint16_t b2; uint32_t b4; u64 b8 = 0;
    switch (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? size : 0) {
    case 1: __builtin_memcpy(&b1, host, 1); return b1;
    case 2: __builtin_memcpy(&b2, host, 2); return b2;
    case 4: __builtin_memcpy(&b4, host, 4); return b4;
    case 8: __builtin_memcpy(&b8, host, 8); return b8;
    default:
        for (unsigned i = 0; i < size; i++)
            b8 |= (u64)host[i] << (8 * i);
        return b8;
    }
}

static inline void store_le(uint8_t *host, unsigned size, u64 value)
{
    uint8_t b1 = (uint8_t)value; uint16_t b2 = (uint16_t)value; uint32_t b4 = (uint32_t)value;
    switch (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? size : 0) {
    case 1: __builtin_memcpy(host, &b1, 1); return;
    case 2: __builtin_memcpy(host, &b2, 2); return;
    case 4: __builtin_memcpy(host, &b4, 4); return;
    case 8: __builtin_memcpy(host, &value, 8); return;
    default:
        for (unsigned i = 0; i < size; i++)
            host[i] = (uint8_t)(value >> (8 * i));
    }
}

/* MMIO callbacks for the data part of Flash.  `desc` is a small uint64_t array:
 * [state address, host address of the mapped bytes, emulated base address, costed range
 * found last (0: none yet)]. */
u64 mmio_read(void *uc, u64 offset, unsigned size, void *user_data)
{
    u64 *desc = (u64 *)user_data;
    u64 *st = (u64 *)(uintptr_t)desc[0];
    u64 value = load_le((const uint8_t *)(uintptr_t)(desc[1] + offset), size);
    (void)uc;
    data_access(st, desc, desc[2] + offset, 1);
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

/* Unicorn's uc_mem_type of an instruction fetch (UC_MEM_FETCH in unicorn.h). */
#define UC_MEM_FETCH_TYPE 18

struct tlb_entry { u64 paddr; uint32_t perms; };   /* uc_tlb_entry of unicorn.h */

/* UC_HOOK_TLB_FILL callback of Unicorn's virtual TLB (mcusim.engine.Engine.use_data_tlb):
 * addresses map to themselves, readable and writable (Unicorn still checks each region's own
 * permissions on the slow path, before any page of it is made fast), and executable only once
 * code has been fetched from the page.  A data page that is not executable in the TLB lets
 * Unicorn turn its stores into plain host stores after the first one; a page that holds
 * translated code keeps every store on the checked path, so stores into code still throw
 * the stale translation away.  `pages`: [page shift, bitmap of the pages code was fetched
 * from]. */
_Bool tlb_fill(void *uc, u64 vaddr, int type, struct tlb_entry *entry, void *user_data)
{
    u64 *pages = (u64 *)user_data;
    u64 page = (vaddr & 0xFFFFFFFFull) >> pages[0];
    u64 *word = pages + 1 + (page >> 6), bit = 1ull << (page & 63);
    (void)uc;
    if (type == UC_MEM_FETCH_TYPE)
        *word |= bit;
    entry->paddr = vaddr;
    entry->perms = (*word & bit) ? 7u : 3u;    /* UC_PROT_ALL : UC_PROT_READ | UC_PROT_WRITE */
    return 1;
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
    u64 *desc = (u64 *)user_data;
    u64 *st = (u64 *)(uintptr_t)desc[0];
    (void)uc;
    store_le((uint8_t *)(uintptr_t)(desc[1] + offset), size, value);
    data_access(st, desc, desc[2] + offset, 0);
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
    u64 a = read_reg(st, uc, desc[1], &st[H_DIV_A]), b = read_reg(st, uc, desc[2], &st[H_DIV_B]);
    u64 bits_b = magnitude_bits(b, desc[3]), cycles = fastest;
    if (bits_b) {
        u64 bits_a = magnitude_bits(a, desc[3]);
        u64 q = bits_a >= bits_b ? bits_a - bits_b + 1 : 0;
        cycles = fastest + ((st[H_DIV_MAX] - fastest) * q + 31) / 32;
    }
    u64 *row = st + st[H_LAST_ROW];
    row[B_DIVCYC] += cycles;
    row[B_DIVN]++;
}
