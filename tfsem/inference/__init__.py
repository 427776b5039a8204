"""What the inference CLIs share beyond ``tfsem.Pipeline`` (arrays in, arrays
out): ``files`` (the small file helpers of ``generate``, ``dream``,
``edit``), ``edit`` (pix2pixHD's label replacement), ``encode_features`` and
``feature_clusters`` (pix2pixHD instance-feature clusters). The CLIs
(``python -m tfsem.generate`` ...) parse and call these; these never import
a CLI."""
