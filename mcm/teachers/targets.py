"""Default LoRA target modules per teacher architecture (method notes: "LoRA").

peft matches a string ``target_modules`` with ``re.fullmatch`` on full module names. The targets are the
attention q/k/v/out projections (spatial and temporal), transformer proj_in/proj_out, feed-forward layers,
ResNet convolutions (conv1, conv2 and the 1x1 ``conv_shortcut`` of a ResNet that changes width, which
the authors' LoRA covers too) and time-embedding projections, up/down-sampler convolutions, and the time embedding.
ModelScope's temporal convolutions (``temp_convs.N.conv1`` is an ``nn.Sequential``) are left out.
"""

ATTENTION = r".*\.(attn1|attn2)\.(to_q|to_k|to_v|to_out\.0)"
TRANSFORMER_PROJ = r".*\.(proj_in|proj_out)"
FEED_FORWARD = r".*\.ff\.net\.(0\.proj|2)"
RESNET = r".*\.resnets\.\d+\.(conv1|conv2|conv_shortcut|time_emb_proj)"
SAMPLERS = r".*\.(downsamplers|upsamplers)\.\d+\.conv"
TIME_EMBEDDING = r"time_embedding\.linear_[12]"

UNET_LORA_TARGETS = "|".join(
    f"(?:{p})" for p in (ATTENTION, TRANSFORMER_PROJ, FEED_FORWARD, RESNET, SAMPLERS, TIME_EMBEDDING)
)
