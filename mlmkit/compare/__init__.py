"""`mlmkit compare`: a fair, resumable shoot-out of masking strategies on one corpus and one budget."""
