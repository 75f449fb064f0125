"""results domain of the winoprune service."""
