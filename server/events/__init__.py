"""events domain of the winoprune service."""
