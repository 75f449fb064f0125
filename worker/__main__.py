"""`python -m worker`: start a Celery worker (one training process) for the service."""

from worker.launcher import main

if __name__ == "__main__":
    main()
