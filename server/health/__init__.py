"""health domain of the winoprune service."""
