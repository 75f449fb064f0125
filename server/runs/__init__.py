"""runs domain of the winoprune service."""
