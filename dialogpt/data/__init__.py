"""TSV corpus -> memory-mapped token DB -> training/evaluation batches.

``features`` holds the pure line -> feature rules, ``db`` the on-disk format, ``prepro`` the
``prepro.py`` command and ``loader`` the loaders (re-exported by the top-level ``data_loader.py``).
Importing this package is cheap; numpy/torch are imported when used.
"""
