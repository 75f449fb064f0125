"""``python -m winoprune.runtime``: build the compiled sparse-Winograd kernel now."""

from winoprune.runtime.native import main

main()
