"""Map a decoded instruction to the cost class used by the core tables (``profiles/cores``).

The classes are the rows of the Cortex-M4 TRM timing table, grouped: ``alu``, ``mul``,
``div``, ``load``, ``store``, ``load_double``, ``store_double``, ``load_multiple``,
``store_multiple``, ``branch``, ``table_branch``, ``it``, ``barrier``, ``system``, and the FPU
classes ``fp_alu``, ``fp_mac``, ``fp_div``, ``fp_sqrt``, ``fp_load``, ``fp_store``,
``fp_load_multiple``, ``fp_store_multiple``.  Anything not listed is ``alu``.
"""

from __future__ import annotations

from mcusim.decoder import Insn

__all__ = ["classify", "CLASSES", "is_single_load", "is_single_store", "is_store",
           "is_multiply", "is_fp_arith", "is_memory"]

_MUL = frozenset({
    "mul", "mla", "mls", "smull", "umull", "smlal", "umlal", "umaal",
    "smlad", "smladx", "smlsd", "smlsdx", "smuad", "smuadx", "smusd", "smusdx",
    "smlald", "smlaldx", "smlsld", "smlsldx", "smmul", "smmulr", "smmla", "smmlar",
    "smmls", "smmlsr", "smulbb", "smulbt", "smultb", "smultt", "smulwb", "smulwt",
    "smlabb", "smlabt", "smlatb", "smlatt", "smlawb", "smlawt", "smlalbb", "smlalbt",
    "smlaltb", "smlaltt", "usad8", "usada8",
})
_TABLE: dict[str, str] = {
    "sdiv": "div", "udiv": "div",
    "ldr": "load", "ldrb": "load", "ldrh": "load", "ldrsb": "load", "ldrsh": "load",
    "ldrt": "load", "ldrbt": "load", "ldrht": "load", "ldrsbt": "load", "ldrsht": "load",
    "ldrex": "load", "ldrexb": "load", "ldrexh": "load",
    "str": "store", "strb": "store", "strh": "store", "strt": "store", "strbt": "store",
    "strht": "store", "strex": "store", "strexb": "store", "strexh": "store",
    "ldrd": "load_double", "strd": "store_double",
    "ldm": "load_multiple", "ldmdb": "load_multiple", "pop": "load_multiple",
    "stm": "store_multiple", "stmdb": "store_multiple", "push": "store_multiple",
    "b": "branch", "bl": "branch", "bx": "branch", "blx": "branch", "cbz": "branch",
    "cbnz": "branch",
    "tbb": "table_branch", "tbh": "table_branch",
    "it": "it",
    "dmb": "barrier", "dsb": "barrier", "isb": "barrier",
    "nop": "system", "hint": "system", "mrs": "system", "msr": "system", "cps": "system",
    "svc": "system", "bkpt": "system", "wfi": "system", "wfe": "system", "sev": "system",
    "yield": "system", "clrex": "system", "undefined": "system",
    "vmla": "fp_mac", "vmls": "fp_mac", "vnmla": "fp_mac", "vnmls": "fp_mac",
    "vfma": "fp_mac", "vfms": "fp_mac", "vfnma": "fp_mac", "vfnms": "fp_mac",
    "vdiv": "fp_div", "vsqrt": "fp_sqrt",
    "vldr": "fp_load", "vstr": "fp_store",
    "vldmia": "fp_load_multiple", "vldmdb": "fp_load_multiple", "vpop": "fp_load_multiple",
    "vstmia": "fp_store_multiple", "vstmdb": "fp_store_multiple",
    "vpush": "fp_store_multiple",
}
_STORES = frozenset({"store", "store_double", "store_multiple", "fp_store",
                     "fp_store_multiple"})
_MEMORY = frozenset({"load", "store", "load_double", "store_double", "load_multiple",
                     "store_multiple", "fp_load", "fp_store", "fp_load_multiple",
                     "fp_store_multiple", "table_branch"})

CLASSES: tuple[str, ...] = (
    "alu", "mul", "div", "load", "store", "load_double", "store_double", "load_multiple",
    "store_multiple", "branch", "table_branch", "it", "barrier", "system", "fp_alu",
    "fp_mac", "fp_div", "fp_sqrt", "fp_load", "fp_store", "fp_load_multiple",
    "fp_store_multiple",
)


def classify(insn: Insn) -> str:
    """Return the cost class of ``insn`` (one of :data:`CLASSES`)."""
    name = insn.name
    if name in _MUL:
        return "mul"
    cls = _TABLE.get(name)
    if cls is not None:
        return cls
    if name.startswith("v"):
        return "fp_alu"
    return "alu"


def is_single_load(insn: Insn) -> bool:
    """LDR/LDRB/LDRH/LDRSB/LDRSH (one register, not LDRD/LDM)."""
    return classify(insn) == "load"


def is_single_store(insn: Insn) -> bool:
    """STR/STRB/STRH (one register)."""
    return classify(insn) == "store"


def is_store(insn: Insn) -> bool:
    """Any store: single, double, multiple, FP."""
    return classify(insn) in _STORES


def is_memory(insn: Insn) -> bool:
    """Any instruction with a data memory access (incl. TBB/TBH)."""
    return classify(insn) in _MEMORY


def is_multiply(insn: Insn) -> bool:
    """Integer multiply or multiply-accumulate (incl. DSP)."""
    return classify(insn) == "mul"


def is_fp_arith(insn: Insn) -> bool:
    """FPU arithmetic (not FP loads/stores)."""
    return classify(insn) in ("fp_alu", "fp_mac", "fp_div", "fp_sqrt")
