"""The layout of the native hooks' state array (see :mod:`mcusim.native`): plain integers.

Kept apart from :mod:`mcusim.native` so that modules needing a limit (the board loader)
do not import numpy; the C hooks get every name here as a ``-D`` flag.
"""

# State layout (indices into the uint64 state array).
H_RUN = 0             # repeats of the current block not yet added to its count, self edge
                      # and H_LEFT
H_LEFT = 1            # instructions the budget still allows (int64), H_RUN's not taken off;
                      # the run stops when it reaches 0 or less
H_LIMIT = 2           # H_LEFT at the start of the call: the budget, or NO_BUDGET for none
H_FAST_SIZE = 3       # size of the block H_FAST_KEY names
H_SWITCHES = 4        # 1: count branch-outcome changes (B_SWITCHES; the M7 model uses them)
H_STOPPED = 5         # 1 = budget exhausted, 2 = block table full, 3 = edge table full
H_TCAP = 6            # block table capacity (power of two)
H_ECAP = 7            # edge table capacity (power of two)
H_FN_STOP = 8         # address of uc_emu_stop
H_FN_READ = 9         # address of uc_mem_read
H_ENTRY = 10          # first block address + 1
H_TICK = 11           # LRU clock
H_SCRATCH = 12        # offset of the scratch area (code bytes)
H_BLOCKS_OFF = 13     # offset of the block table
H_EDGES_OFF = 14      # offset of the edge table
H_NRANGES = 15        # number of wait-state ranges
# Counted loops (mcusim.loops; loop_hook in _native_hooks.c):
H_LOOP = 16           # descriptor address of the counted loop about to run without hooks
                      # (0: none); its row is then H_LAST_ROW, with B_LOWERS set to
                      # LOOP_PENDING so that the next block takes the slow path
H_LOOP_N = 17         # its executions to come (worked out at its closing branch)
H_LOOP_R = 18         # its induction register at that branch
H_LOOP_PREV = 19      # row of the block that enters it
H_RESUME = 20         # a counted loop's closing branch where the run is to resume with the
                      # loop's hooked translation (0: none; see loop_hook)
H_RESUME_LOOP = 21    # that loop's descriptor address
H_LOOP_MIN = 22       # the executions per entry a counted loop must run on average, once it
                      # had LOOP_MIN_ENTRIES entries, to stay counted (mcusim.loops.
                      # min_executions, rounded up; 0: no such check)
H_LOOP_RUNS = 23      # passages of counted loops counted without hooks since the reset
H_RETIRE = 24         # 1: the run stopped at H_RESUME to retire that loop (it did not pay)
H_FAULT_ADDR = 48     # address of a store into Flash (STOP_FLASH_WRITE)
H_FN_REG = 49         # address of uc_reg_read (0: no stack check)
H_SP_REGID = 50       # Unicorn's register id of SP
H_SP_LIMIT = 51       # lowest legal SP (the stack bottom); below it the run stops
H_MIN_SP = 52         # lowest SP seen after a block that may lower it
H_MIN_SP_BLOCK = 53   # start address of the block that lowered SP to H_MIN_SP
H_SP_VALUE = 54       # uc_reg_read writes SP here
# 55: unused
H_LAST_ROW = 56       # state index of the current block's row; before the first block of a
                      # run, the row just below the block table (key 0, no successors)
H_RUN_EDGE = 57       # state index of the current block's self-edge row (while H_RUN > 0)
H_FAST_KEY = 58       # address of a block whose repeats only count (at size
                      # H_FAST_SIZE), NO_FAST = none
H_FAST_LEFT = 59      # repeats the armed fast path may still count (the budget stops the
                      # run when it reaches 0); pending repeats are H_RUN + H_FAST_BASE -
                      # H_FAST_LEFT
H_DIV_MIN = 60        # cycles of a division with no quotient bits (0: no operand-timed division)
H_DIV_MAX = 61        # cycles of a division with 32 quotient bits
H_DIV_A = 62          # uc_reg_read writes the dividend here
H_DIV_B = 63          # ... and the divisor here
# Cache descriptors, CACHE_WORDS each, from H_CACHES (fields C_*); sets == 0: no cache array
# (disabled or absent), only the line buffers act.
H_CACHES = 64
CACHE_WORDS = 12
MAX_CACHES = 16
C_SETS = 0            # number of sets (0: no array)
C_WAYS = 1
C_SHIFT = 2           # log2(line bytes)
C_FLAGS = 3           # bit 0: one-line prefetch buffer; bit 1: current-line buffer
C_TAGS = 4            # offset of the tag/LRU-stamp array
C_MRU1 = 5            # the two most recently touched lines + 1
C_MRU2 = 6
C_PRED = 7            # offset of the way-predictor table
C_CUR = 8             # line + 1 read last (current-line buffer; the prefetch buffer holds
                      # the line after it)
C_EPOCH = 9           # changes of the MRU pair (starts at 1)
PRED_ENTRIES = 4096   # way-predictor entries per cache (a power of two)
# Costed memory ranges, RANGE_WORDS each, from H_RANGES: [lo, hi, icache descriptor index,
# dcache descriptor index, cycles per instruction-line miss, cycles per data-line miss].
H_RANGES = H_CACHES + MAX_CACHES * CACHE_WORDS
RANGE_WORDS = 6
MAX_WAIT_RANGES = 8
H_NBLOCKS = H_RANGES + MAX_WAIT_RANGES * RANGE_WORDS   # block rows in use, listed (by
                      # slot) at H_BUSED_OFF in creation order
H_NEDGES = H_NBLOCKS + 1     # edge rows in use, listed (by state index) at H_EUSED_OFF
H_BUSED_OFF = H_NBLOCKS + 2  # offset of the used-block list (H_TCAP entries)
H_EUSED_OFF = H_NBLOCKS + 3  # offset of the used-edge list (H_ECAP entries)
H_FAST_BASE = H_NBLOCKS + 4  # H_FAST_LEFT when the fast path was armed (equal otherwise)
HEADER = H_NBLOCKS + 5
SCRATCH_WORDS = 1024  # 8 KiB of code bytes per block at most (Unicorn blocks are smaller)

BLOCK_FIELDS = 28     # key(addr+1), size, ninstr, count, imiss, dreads, dmiss, lowers_sp
                      # (with the stack check on), 2 x successor memo (key, row, state index
                      # of the edge's count), fetch skippable, self-edge row, then the B_*
                      # fields below
B_ISTALL = 16         # cycles of the block's instruction-line misses
B_DSTALL = 17         # cycles of the data-line misses charged to the block
B_DIVCYC = 18         # cycles of its operand-timed divisions
B_DIVN = 19           # divisions executed
B_LAST_SUCC = 20      # row of the block executed after it last time (0: none)
B_SWITCHES = 21       # times that successor changed
B_RANGE = 22          # state index of the costed range holding the block (0: none)
B_CBASE = 23          # state index of its I-side cache descriptor (0: fetches not modelled)
B_LINE0 = 24          # first and last line + 1 of the block's fetches (at its recorded size)
B_LINEN = 25
B_FSIZE = 26          # its size when it has fetch lines, else a value no size has
B_EPOCH = 27          # C_EPOCH when its fetch lines were all in the MRU pair (0: not known)
EDGE_FIELDS = 2       # key((src_slot+1) << 32 | (dst_slot+1)), count

NO_FAST = (1 << 64) - 1   # H_FAST_KEY of no block
NO_BUDGET = 1 << 62       # H_LIMIT without a budget (never reached: 146 years at 1000 MIPS)

STOP_BUDGET = 1
STOP_BLOCK_TABLE = 2
STOP_EDGE_TABLE = 3
STOP_FLASH_WRITE = 4
STOP_STACK = 5

# Loop descriptor fields (mcusim.native.loop_descriptor), LOOP_WORDS each.
L_STATE = 0           # address of the state array
L_START = 1           # the loop block: start address, size
L_SIZE = 2
L_REG = 3             # Unicorn's register id of the induction register
L_STEP = 4            # its step per execution (int64)
L_CMP_REG = 5         # register id of the register it is compared with (NO_REG: the value)
L_CMP_VALUE = 6
L_BEFORE = 7          # 1: the compare comes before the update in the block
L_UPDATE = 8          # address of the update
L_SCRATCH = 9         # uc_reg_read writes here
L_HOOKED = 10         # 1: its hook-free translation was dropped (until translated again)
L_COND = 11           # what it loops on (mcusim.loops.CONDITION_CODES): 0 !=, 1-4 unsigned
                      # <, <=, >, >=, 5-8 signed <, <=, >, >= (the register on the left)
L_STATS = 12          # address of its two statistics words: entries the hook saw, and
                      # the executions it left to count (mcusim.machine retires loops whose
                      # entries run too few executions to pay for the hook)
LOOP_WORDS = 14
NO_REG = (1 << 64) - 1
LOOP_MIN_ENTRIES = 16 # entries of a counted loop before its executions per entry are judged
LOOP_PENDING = 2      # B_LOWERS of a counted loop's row while its executions are pending
RESUMING = 4          # B_LOWERS bit of the block a run stopped in to resume at H_RESUME
