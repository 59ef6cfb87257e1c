"""Task hooks for the mmdata synthetic-MMMB lmms-eval tasks: mmdata's own prompts and extractor."""

from mmdata.bench.lmms_bridge import (  # noqa: F401
    agg_lang_macro,
    agg_sum,
    doc_to_text,
    doc_to_visual,
    filter_ar,
    filter_en,
    filter_pt,
    filter_ru,
    filter_tr,
    filter_zh,
    process_results,
    process_results_all,
)
