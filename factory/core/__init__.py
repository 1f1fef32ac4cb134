"""Records (the lowest layer, with the store): the models, errors, templates, the environment recipe, the one
settings model (``settings.py``), the project file and where each setting's value comes from (``resolve.py``).
"""
