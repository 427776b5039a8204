"""tfsem: semantic image synthesis with GANs in TensorFlow 2 / Keras 3."""

from setuptools import find_packages, setup

setup(
    name="tfsem",
    version="0.6.0",
    description=(
        "Semantic image synthesis with GANs (SemGAN, pix2pixHD, SPADE/GauGAN) "
        "in TensorFlow 2 / Keras 3"
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["tfsem", "tfsem.*"]),
    package_data={"tfsem.data": ["label_spaces/*.json"],
                  "tfsem.studio": ["static/*"]},
    entry_points={"console_scripts": ["tfsem = tfsem.cli:main"]},
    install_requires=[
        "keras>=3.10",
        "numpy",
        "pillow",
        "scipy",  # connected regions of the label-map metrics
        "tensorboard",  # tf.summary needs it; tensorflow no longer depends on it
        "tensorflow-datasets",
        "importlib_resources",  # tensorflow-datasets needs it on Python 3.11
    ],
    extras_require={
        # TensorFlow is an extra so users pick the build: pip install tfsem[cpu] or tfsem[gpu].
        "cpu": ["tensorflow-cpu>=2.20"],
        "gpu": ["tensorflow[and-cuda]>=2.20"],
        "litert": ["ai-edge-litert"],
        # tfsem.convert reads the official PyTorch checkpoints (torch.load, weights only)
        "convert": ["torch>=2.1"],
        # python -m tfsem.studio: the ASGI app and its server
        # (swagger-ui-bundle: the /docs page's assets, served locally, so it works offline)
        "studio": ["fastapi>=0.110", "uvicorn>=0.29", "swagger-ui-bundle"],
        # the documentation site: make docs (mkdocs build --strict)
        "docs": ["mkdocs>=1.6", "mkdocs-material>=9.5", "mkdocstrings[python]>=0.26"],
        # httpx: FastAPI's TestClient; playwright: the studio's browser test (system chromium);
        # filelock: the pytest workers build the shared runs once (tests/conftest.py);
        # dill: imported by the official SPADE code (slow training tests); ruff: make test's lint
        "test": ["pytest", "pytest-xdist", "scipy", "ai-edge-litert", "fastapi>=0.110",
                 "uvicorn>=0.29", "swagger-ui-bundle", "httpx", "playwright", "hypothesis",
                 "dill", "filelock", "ruff"],
    },
)
