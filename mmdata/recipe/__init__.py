"""Recipe builders (DESIGN §4): recipes → mixtures, following Honeybee's recipe and going beyond it.

``build(recipe, out)`` writes a mixture directory; ``load_recipe`` validates recipe files.
"""

from mmdata.recipe.build import BuildResult, build
from mmdata.recipe.config import Recipe, load_recipe, preset_names

__all__ = ["BuildResult", "Recipe", "build", "load_recipe", "preset_names"]
