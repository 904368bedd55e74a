"""The study: where it is stored, what its trials record, its tables and its Pareto set."""
