"""Concept diagrams drawn with matplotlib, one module per notebook; each `draw_*` function returns a closed `Figure`.

`from helpers.teaching.diagrams import draw_gpt_architecture` reaches every diagram from here. The chapter modules:
`overview` (01_overview), `text` (02_text_and_tokens), `windows` (03_sliding_window), `embeddings` (04_embeddings),
`attention` (05_attention), `gpt` (06_gpt_model), `pretraining` (07_pretraining), `llama` (08_llama),
`classifier` (09_classification_finetuning) and `instruct` (10_instruction_finetuning); `draw` holds the primitives
and the palette they share. Where a diagram shows numbers or words, they are arguments, so a notebook passes its own.
A diagram never saves a file, and the figure it returns is already closed from pyplot, so a cell holding only the
call shows it once.
"""

from helpers.teaching.diagrams.attention import (
    draw_attention_dropout,
    draw_causal_mask,
    draw_context_vector,
    draw_encoder_decoder,
    draw_multihead_attention,
    draw_multihead_shapes,
    draw_multihead_wrapper,
    draw_qkv_projections,
)
from helpers.teaching.diagrams.classifier import (
    draw_classifier_head,
    draw_finetuning_kinds,
    draw_last_token,
    draw_lora,
)
from helpers.teaching.diagrams.embeddings import draw_embedding_lookup, draw_input_embeddings
from helpers.teaching.diagrams.gpt import (
    draw_feed_forward,
    draw_generation_loop,
    draw_gpt_architecture,
    draw_layer_norm,
    draw_shortcut_connections,
    draw_transformer_block,
)
from helpers.teaching.diagrams.instruct import draw_collate_steps, draw_prompt_styles
from helpers.teaching.diagrams.llama import (
    draw_gpt_to_llama,
    draw_grouped_query_attention,
    draw_q4_1_block,
    draw_rope_row_order,
)
from helpers.teaching.diagrams.overview import (
    draw_attention_masks,
    draw_course_path,
    draw_generation_strip,
    draw_model_sizes,
    draw_three_stages,
)
from helpers.teaching.diagrams.pretraining import (
    draw_cross_entropy,
    draw_lr_schedule,
    draw_temperature_top_k,
    draw_training_loop,
    draw_training_runs,
)
from helpers.teaching.diagrams.text import draw_bpe_merges, draw_special_tokens, draw_tokenization_pipeline
from helpers.teaching.diagrams.windows import draw_next_token_pairs, draw_stride_windows, draw_windows_to_batch

__all__ = [
    "draw_attention_dropout",
    "draw_attention_masks",
    "draw_bpe_merges",
    "draw_causal_mask",
    "draw_classifier_head",
    "draw_collate_steps",
    "draw_context_vector",
    "draw_course_path",
    "draw_encoder_decoder",
    "draw_cross_entropy",
    "draw_embedding_lookup",
    "draw_feed_forward",
    "draw_finetuning_kinds",
    "draw_generation_loop",
    "draw_generation_strip",
    "draw_gpt_architecture",
    "draw_gpt_to_llama",
    "draw_grouped_query_attention",
    "draw_input_embeddings",
    "draw_last_token",
    "draw_layer_norm",
    "draw_lora",
    "draw_lr_schedule",
    "draw_model_sizes",
    "draw_multihead_attention",
    "draw_multihead_wrapper",
    "draw_multihead_shapes",
    "draw_next_token_pairs",
    "draw_prompt_styles",
    "draw_q4_1_block",
    "draw_qkv_projections",
    "draw_rope_row_order",
    "draw_shortcut_connections",
    "draw_special_tokens",
    "draw_stride_windows",
    "draw_temperature_top_k",
    "draw_three_stages",
    "draw_tokenization_pipeline",
    "draw_training_loop",
    "draw_training_runs",
    "draw_transformer_block",
    "draw_windows_to_batch",
]
