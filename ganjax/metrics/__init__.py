"""Sample-quality metrics: FID-Inception features (inception) and FID, KID and
precision/recall on feature vectors (stats)."""
