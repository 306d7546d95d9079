"""mcusim: an instruction-level simulator and cycle model for Arm Cortex-M4/M7 MCUs."""

__version__ = "0.1.0"
