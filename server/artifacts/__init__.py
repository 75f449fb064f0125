"""artifacts domain of the winoprune service."""
