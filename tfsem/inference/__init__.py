"""Inference front ends as libraries: ``generate`` (photos from label maps,
label maps from seeds), ``edit`` (pix2pixHD label and appearance editing),
``dream`` (SemGAN maps rendered by a label-to-photo run),
``encode_features`` and ``feature_clusters`` (pix2pixHD instance-feature
clusters). The CLIs (``python -m tfsem.generate`` ...) parse and call these;
these never import a CLI."""
