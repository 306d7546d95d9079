"""The one error hierarchy of mcusim.

Every failure a user can cause (bad input, a firmware fault, a runaway loop, an image
that does not fit) is raised as a subclass of :class:`McusimError`.  Each error carries the
details that locate it -- file, field, address, PC, symbol, source line -- as attributes,
and renders them in its message, so that the command line can print ``str(error)`` and
stop without a traceback.
"""

from __future__ import annotations

from typing import Any


class McusimError(Exception):
    """Base class of every error mcusim raises on purpose.

    Parameters
    ----------
    message
        What went wrong, in one sentence.
    **details
        Named facts that locate the problem (``file``, ``field``, ``address``, ``pc``,
        ``symbol``, ``line``, ...).  ``None`` values are dropped.  They are available as
        the ``details`` dict and rendered after the message.
    """

    def __init__(self, message: str, **details: Any) -> None:
        self.message = message
        self.details = {k: v for k, v in details.items() if v is not None}
        super().__init__(self._render())

    def _render(self) -> str:
        if not self.details:
            return self.message
        parts = []
        for key, value in self.details.items():
            if isinstance(value, int) and key in _HEX_KEYS:
                value = f"0x{value:08x}"
            parts.append(f"{key}={value}")
        return f"{self.message} [{', '.join(parts)}]"

    def __getattr__(self, name: str) -> Any:
        # Allow ``err.pc`` etc. for the named details.
        details = self.__dict__.get("details", {})
        if name in details:
            return details[name]
        raise AttributeError(name)


_HEX_KEYS = {"address", "pc", "lr", "sp", "stack_bottom", "stack_top", "start", "end"}


class ProfileError(McusimError):
    """A board or core profile file is malformed (names the file, the field and why)."""


class ToolchainError(McusimError):
    """The cross-compiler is missing or a build failed (names the command and its output)."""


class ImageTooLargeError(McusimError):
    """An image does not fit a memory region of the board (names region and overflow bytes)."""


class MissingDependencyError(McusimError):
    """An optional Python package a feature needs is not installed (names the extra to install)."""


class ElfError(McusimError):
    """A file is not a usable ELF: not ELF at all, not ARM, truncated or corrupt."""


class FileError(McusimError):
    """A file cannot be read or written: missing, not a regular file (FIFO, device,
    directory), too large, or its directory does not exist (names the file)."""


class UnknownNameError(McusimError, KeyError):
    """A name (layer, kernel, ...) that is not one of the known ones (lists them)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self._render()


class MachineError(McusimError):
    """Misuse of the emulated machine (unknown symbol, allocation that does not fit, ...)."""


class EmulationFault(McusimError):
    """The firmware faulted under emulation.

    Carries ``fault`` (kind), ``address`` (the faulting data address when there is one),
    ``pc``, ``symbol`` (the function containing the PC) and ``line`` (``file:line`` from
    DWARF) when known.
    """


class UnmappedAccessFault(EmulationFault):
    """Read, write or instruction fetch at an address no memory region covers."""


class FlashWriteFault(EmulationFault):
    """A store to read-only memory (Flash)."""


class UndefinedInstructionFault(EmulationFault):
    """The core met an instruction it cannot execute (UsageFault: UNDEFINSTR)."""


class HardFault(EmulationFault):
    """Any other exception the core takes (invalid state, SVC/exception without handler, ...)."""


class UsageFault(HardFault):
    """A UsageFault the core raises (``fault`` is ``INVSTATE``, ``UNALIGNED`` or
    ``DIVBYZERO``), reported at the instruction that caused it."""


class SleepFault(EmulationFault):
    """The core executed WFI or WFE and would wait forever: the simulator raises no
    interrupts or events, so nothing can wake it."""


class StackOverflowFault(EmulationFault):
    """The stack pointer went below the bottom of the stack region."""


class BudgetExhausted(EmulationFault):
    """The instruction budget ran out before the program or call finished (a runaway loop?)."""


class TimeLimitExceeded(BudgetExhausted):
    """The wall-clock limit (``timeout``) ran out before the program or call finished."""


class GuardViolation(EmulationFault):
    """Firmware wrote outside the buffers it was given (a red zone around a host buffer changed)."""



class ModelError(McusimError):
    """A model is malformed or unsupported (names the file, operator and tensor where known)."""
