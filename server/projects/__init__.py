"""projects domain of the winoprune service."""
