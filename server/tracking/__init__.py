"""The tracking API (issue 15): runs made outside the workers, fed by their own client."""
