"""tfsem studio: paint a label map in the browser, get the photo.

``python -m tfsem.studio --model RUN_or_EXPORT [--semgan RUN]`` (see
``__main__``); the app is :func:`tfsem.studio.app.create_app` over a back
end of :mod:`tfsem.studio.backends`. Needs ``pip install tfsem[studio]``
(FastAPI, uvicorn).
"""
