"""Recipe builders (DESIGN §4): recipes → mixtures, following Honeybee's recipe and going beyond it.

``mmdata.recipe.build.build(recipe, out)`` writes a mixture directory (the stages are in
:mod:`mmdata.recipe.stages`); ``mmdata.recipe.config.load_recipe`` validates recipe files. This
package imports nothing itself, so ``mmdata --help`` does not pay for polars and pyarrow.
"""
