"""db domain of the winoprune service."""
