"""From candidate to model: choosing a study's candidate, exporting it."""
