"""auth domain of the winoprune service."""
