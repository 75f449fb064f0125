"""users domain of the winoprune service."""
