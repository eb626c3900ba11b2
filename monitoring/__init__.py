"""The loop after deployment: what was served, what happened, did it drift, export to retrain."""
