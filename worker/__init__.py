"""Celery workers that run winoprune pipelines for the service (see README "Workers")."""
