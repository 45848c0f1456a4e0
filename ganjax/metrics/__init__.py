"""Sample-quality metrics: the FID Inception network (inception, its weights readers
inception_weights and inception_nvidia), FID, KID, precision/recall and nearest
distances on feature vectors (stats), statistics files and feature caches (fid_stats),
and what experiments.fid compares (fid_sources)."""
