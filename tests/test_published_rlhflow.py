"""RLHFlow's chat PRMs (prm.model.published.rlhflow) on a tiny checkpoint in the published layout.

The folder mirrors ``RLHFlow/Llama3.1-8B-PRM-Deepseek-Data``: a Llama-3.1 config.json (LlamaForCausalLM,
llama3 rope scaling, bf16), ``model-0000k-of-00004.safetensors`` + ``model.safetensors.index.json``,
generation_config.json, and a byte-level BPE tokenizer.json with Llama 3's pre-tokenizer regex, its special
tokens (``<|begin_of_text|>`` ... ``<|eot_id|>``) and BOS post-processor, plus tokenizer_config.json holding
Llama-3.1-Instruct's chat template. Scores are checked against ``math-rm/prm_evaluate.py``'s loop (one forward
per step prefix, logits at -3), written out here with plain transformers.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from published_helpers import (
    assert_batches_match_one_at_a_time,
    claimed_by_others,
    copy_configs,
    load_through_registry,
    own_format_folders,
    sibling_detectors,
)
from safetensors.torch import save_file
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

from prm.model.published import rlhflow

QUESTION = "Janet has 16 eggs. She eats 3 and sells the rest for $2 each. How much does she make?"
STEPS = ["She has 16 - 3 = 13 eggs left.", "She makes 13 * 2 = 26 dollars.", "The answer is: 26"]
OTHER = ("Tom reads 12 pages a day for 5 days. How many pages?", ["He reads 12 * 5 = 60 pages.", "The answer is 60"])

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                  r"\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
            "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>", "<|start_header_id|>", "<|end_header_id|>",
            "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"]

# meta-llama/Llama-3.1-8B-Instruct's chat template (tokenizer_config.json), which RLHFlow's checkpoints carry
LLAMA31_TEMPLATE = (
    "{{- bos_token }}\n{%- if custom_tools is defined %}\n    {%- set tools = custom_tools %}\n{%- endif %}\n"
    "{%- if not tools_in_user_message is defined %}\n    {%- set tools_in_user_message = true %}\n{%- endif %}\n"
    "{%- if not date_string is defined %}\n    {%- set date_string = \"26 Jul 2024\" %}\n{%- endif %}\n"
    "{%- if not tools is defined %}\n    {%- set tools = none %}\n{%- endif %}\n\n"
    "{#- This block extracts the system message, so we can slot it into the right place. #}\n"
    "{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content']|trim %}\n"
    "    {%- set messages = messages[1:] %}\n{%- else %}\n    {%- set system_message = \"\" %}\n{%- endif %}\n\n"
    "{#- System message + builtin tools #}\n{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n"
    "{%- if builtin_tools is defined or tools is not none %}\n    {{- \"Environment: ipython\\n\" }}\n{%- endif %}\n"
    "{%- if builtin_tools is defined %}\n"
    "    {{- \"Tools: \" + builtin_tools | reject('equalto', 'code_interpreter') | join(\", \") + \"\\n\\n\"}}\n"
    "{%- endif %}\n{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n"
    "{{- \"Today Date: \" + date_string + \"\\n\\n\" }}\n{%- if tools is not none and not tools_in_user_message %}\n"
    "    {{- \"You have access to the following functions. To call a function, please respond with JSON for a "
    "function call.\" }}\n"
    "    {{- 'Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its "
    "value}.' }}\n    {{- \"Do not use variables.\\n\\n\" }}\n    {%- for t in tools %}\n"
    "        {{- t | tojson(indent=4) }}\n        {{- \"\\n\\n\" }}\n    {%- endfor %}\n{%- endif %}\n"
    "{{- system_message }}\n{{- \"<|eot_id|>\" }}\n\n"
    "{#- Custom tools are passed in a user message with some extra guidance #}\n"
    "{%- if tools_in_user_message and not tools is none %}\n"
    "    {#- Extract the first user message so we can plug it in here #}\n    {%- if messages | length != 0 %}\n"
    "        {%- set first_user_message = messages[0]['content']|trim %}\n        {%- set messages = messages[1:] %}\n"
    "    {%- else %}\n        {{- raise_exception(\"Cannot put tools in the first user message when there's no "
    "first user message!\") }}\n{%- endif %}\n    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}\n"
    "    {{- \"Given the following functions, please respond with a JSON for a function call \" }}\n"
    "    {{- \"with its proper arguments that best answers the given prompt.\\n\\n\" }}\n"
    "    {{- 'Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its "
    "value}.' }}\n    {{- \"Do not use variables.\\n\\n\" }}\n    {%- for t in tools %}\n"
    "        {{- t | tojson(indent=4) }}\n        {{- \"\\n\\n\" }}\n    {%- endfor %}\n"
    "    {{- first_user_message + \"<|eot_id|>\"}}\n{%- endif %}\n\n{%- for message in messages %}\n"
    "    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}\n"
    "        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + "
    "'<|eot_id|>' }}\n    {%- elif 'tool_calls' in message %}\n        {%- if not message.tool_calls|length == 1 %}\n"
    "            {{- raise_exception(\"This model only supports single tool-calls at once!\") }}\n"
    "        {%- endif %}\n"
    "        {%- set tool_call = message.tool_calls[0].function %}\n"
    "        {%- if builtin_tools is defined and tool_call.name in builtin_tools %}\n"
    "            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n"
    "            {{- \"<|python_tag|>\" + tool_call.name + \".call(\" }}\n"
    "            {%- for arg_name, arg_val in tool_call.arguments | items %}\n"
    "                {{- arg_name + '=\"' + arg_val + '\"' }}\n                {%- if not loop.last %}\n"
    "                    {{- \", \" }}\n                {%- endif %}\n                {%- endfor %}\n"
    "            {{- \")\" }}\n        {%- else  %}\n"
    "            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n"
    "            {{- '{\"name\": \"' + tool_call.name + '\", ' }}\n            {{- '\"parameters\": ' }}\n"
    "            {{- tool_call.arguments | tojson }}\n            {{- \"}\" }}\n        {%- endif %}\n"
    "        {%- if builtin_tools is defined %}\n            {#- This means we're in ipython mode #}\n"
    "            {{- \"<|eom_id|>\" }}\n        {%- else %}\n            {{- \"<|eot_id|>\" }}\n        {%- endif %}\n"
    "    {%- elif message.role == \"tool\" or message.role == \"ipython\" %}\n"
    "        {{- \"<|start_header_id|>ipython<|end_header_id|>\\n\\n\" }}\n"
    "        {%- if message.content is mapping or message.content is iterable %}\n"
    "            {{- message.content | tojson }}\n        {%- else %}\n            {{- message.content }}\n"
    "        {%- endif %}\n        {{- \"<|eot_id|>\" }}\n    {%- endif %}\n{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n{%- endif %}\n"
)


def _corpus() -> list[str]:
    texts = []
    for i in range(300):
        a, b = i % 37 + 2, i % 11 + 1
        texts.append(f"system\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nuser\n\n"
                     f"Janet has {a} eggs and eats {b}. She has {a} - {b} = {a - b} eggs left.\n\nassistant\n\n+"
                     f"user\n\nShe sells them for ${b} each, so she makes {(a - b) * b} dollars.\n\nassistant\n\n-"
                     f"user\n\nThe answer is: {(a - b) * b}\n\nassistant\n\n+ Tom reads {a} pages a day.")
    return texts


def _tokenizer(folder: Path) -> dict[str, int]:
    """tokenizer.json in Llama 3's shape; the special tokens' ids."""
    tokenizer = Tokenizer(models.BPE(ignore_merges=True))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(_corpus(), trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS])
    ids = {t: tokenizer.token_to_id(t) for t in SPECIALS}
    bos = ids["<|begin_of_text|>"]
    tokenizer.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A",
                                      pair="<|begin_of_text|> $A <|begin_of_text|>:1 $B:1",
                                      special_tokens=[("<|begin_of_text|>", bos)])])
    tokenizer.save(str(folder / "tokenizer.json"))
    entry = {"lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": True}
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "added_tokens_decoder": {str(i): {"content": t, **entry} for t, i in ids.items()},
        "bos_token": "<|begin_of_text|>", "chat_template": LLAMA31_TEMPLATE, "clean_up_tokenization_spaces": True,
        "eos_token": "<|eot_id|>", "model_input_names": ["input_ids", "attention_mask"], "model_max_length": 131072,
        "tokenizer_class": "PreTrainedTokenizerFast"}, indent=2))
    plain = {k: v for k, v in entry.items() if k != "special"}
    (folder / "special_tokens_map.json").write_text(json.dumps(
        {"bos_token": {"content": "<|begin_of_text|>", **plain}, "eos_token": {"content": "<|eot_id|>", **plain}}))
    return {**ids, "vocab": tokenizer.get_vocab_size()}


def build_published(folder: Path) -> Path:
    """A tiny random RLHFlow PRM in the published file layout."""
    folder.mkdir(parents=True)
    ids = _tokenizer(folder)
    eos = [ids["<|end_of_text|>"], ids["<|eom_id|>"], ids["<|eot_id|>"]]
    config = {"architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
              "bos_token_id": ids["<|begin_of_text|>"], "eos_token_id": eos, "head_dim": 32, "hidden_act": "silu",
              "hidden_size": 64, "initializer_range": 0.02, "intermediate_size": 128,
              "max_position_embeddings": 131072, "mlp_bias": False, "model_type": "llama", "num_attention_heads": 2,
              "num_hidden_layers": 2, "num_key_value_heads": 1, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
              "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                               "original_max_position_embeddings": 8192, "rope_type": "llama3"},
              "rope_theta": 500000.0, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
              "transformers_version": "4.46.2", "use_cache": True, "vocab_size": ids["vocab"]}
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (folder / "generation_config.json").write_text(json.dumps(
        {"bos_token_id": config["bos_token_id"], "do_sample": True, "eos_token_id": eos, "temperature": 0.6,
         "top_p": 0.9, "transformers_version": "4.46.2"}, indent=2))
    torch.manual_seed(0)
    init = {k: v for k, v in config.items() if k != "architectures"} | {"initializer_range": 0.3}  # spread scores
    model = LlamaForCausalLM(LlamaConfig(**init))
    state = {k: v.to(torch.bfloat16).contiguous() for k, v in model.state_dict().items()}
    names, weight_map = list(state), {}
    size = -(-len(names) // 4)
    for k in range(4):
        file = f"model-{k + 1:05d}-of-00004.safetensors"
        part = {name: state[name] for name in names[k * size: (k + 1) * size]}
        save_file(part, str(folder / file), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(part, file))
    total = sum(v.numel() * v.element_size() for v in state.values())
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))
    return folder


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_published(tmp_path_factory.mktemp("rlhflow") / "Llama3.1-8B-PRM-Deepseek-Data")


@pytest.fixture(scope="module")
def scorer(published: Path) -> rlhflow.RLHFlowScorer:
    return rlhflow.load(published, device="cpu", dtype="float32")


def prm_evaluate(folder: Path, prompt: str, ans_list: list[str]) -> list[float]:
    """``select_sample`` of RLHFlow's math-rm/prm_evaluate.py for one answer, float32 on the CPU."""
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    plus_tag_id = tokenizer.encode("+")[-1]
    minus_tag_id = tokenizer.encode("-")[-1]
    candidate_tokens = [plus_tag_id, minus_tag_id]
    ans_list = [j.strip() for j in ans_list]
    single_step_score, conversation = [], []
    for k in range(len(ans_list)):
        text = prompt + " " + ans_list[0] if k == 0 else ans_list[k]
        conversation.append({"content": text, "role": "user"})
        conversation.append({"content": "+", "role": "assistant"})
        # transformers 4 returned the ids tensor by default (return_dict=False)
        input_ids = tokenizer.apply_chat_template(conversation, return_tensors="pt", return_dict=False)
        with torch.no_grad():
            logits = model(input_ids).logits[:, -3, candidate_tokens]
            scores = logits.softmax(dim=-1)[:, 0]
            single_step_score.append(scores[0].detach().to("cpu", dtype=torch.float32).item())
    return single_step_score


# (1) detection ------------------------------------------------------------------------------------------------


def test_the_tiny_tokenizer_has_llama3_shape(published: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(str(published))
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": "x"}, {"role": "assistant", "content": "+"}],
                                             tokenize=False)
    assert rendered.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge")
    ids = tokenizer(rendered, add_special_tokens=False)["input_ids"]
    assert tokenizer.convert_ids_to_tokens(ids[-3:]) == ["ĊĊ", "+", "<|eot_id|>"]  # "-3" predicts the reply
    assert tokenizer.encode("+")[0] == tokenizer.bos_token_id


def test_detect_accepts_the_published_names(published: Path, tmp_path: Path) -> None:
    assert rlhflow.detect(published)
    for repo in ("models--RLHFlow--Llama3.1-8B-PRM-Mistral-Data", "models--RLHFlow--Llama3.1-8B-PRM-Deepseek-Data"):
        assert rlhflow.detect(copy_configs(published, tmp_path / repo / "snapshots" / "f645c109984a"))
    named = copy_configs(published, tmp_path / "prm-8b")
    config = json.loads((named / "config.json").read_text())
    (named / "config.json").write_text(json.dumps({"_name_or_path": "RLHFlow/Llama3.1-8B-PRM-Mistral-Data"} | config))
    assert rlhflow.detect(named)


def test_detect_rejects_other_checkpoints(published: Path, tmp_path: Path) -> None:
    own = own_format_folders(tmp_path, _corpus()[:30], prefix="rlhflow-prm-")  # named, yet the project's own
    instruct = copy_configs(published, tmp_path / "Llama-3.1-8B-Instruct")
    orm = copy_configs(published, tmp_path / "models--RLHFlow--Llama3.1-8B-ORM-Deepseek-Data" / "snapshots" / "a1")
    garbage = tmp_path / "rlhflow-prm-garbage"
    garbage.mkdir()
    (garbage / "config.json").write_text("[1, 2]")
    for folder in (own["prm"], own["likelihood"], instruct, orm, garbage, tmp_path / "rlhflow-prm-missing",
                   tmp_path / "Llama"):
        assert not rlhflow.detect(folder), folder


def test_other_formats_reject_it(published: Path) -> None:
    assert "math_shepherd" in sibling_detectors("rlhflow_prm")
    assert claimed_by_others(published, "rlhflow_prm") == []


# (2) the authors' recipe ----------------------------------------------------------------------------------------


def test_one_forward_equals_prm_evaluate(published: Path, scorer: rlhflow.RLHFlowScorer) -> None:
    cases = [(QUESTION, STEPS), OTHER, ("Is 2 - 3 < 0?", ["  2 - 3 = -1, a + b = c.\n", "Yes."])]
    for question, steps in cases:
        expected = prm_evaluate(published, question, steps)
        got = scorer.score(question, steps)
        assert len(got) == len(steps) and got == pytest.approx(expected, abs=1e-5)
    spread = scorer.score(QUESTION, STEPS)
    assert max(spread) - min(spread) > 0.01  # the scores depend on the steps


def test_reply_tokens_are_options(published: Path, scorer: rlhflow.RLHFlowScorer) -> None:
    swapped = rlhflow.load(published, device="cpu", dtype="float32", good_token="-", bad_token="+")
    assert swapped.candidates == scorer.candidates[::-1]
    with pytest.raises(ValueError, match="unknown option"):
        rlhflow.load(published, device="cpu", step_tag="x")


# (3) raw text, batching, max_length -----------------------------------------------------------------------------


def test_raw_text_and_batches_match_one_at_a_time(scorer: rlhflow.RLHFlowScorer) -> None:
    assert_batches_match_one_at_a_time(scorer, QUESTION, STEPS, OTHER)


def test_steps_past_max_length_score_none(published: Path, scorer: rlhflow.RLHFlowScorer) -> None:
    ids, positions = scorer.encode(QUESTION, STEPS)
    assert positions[-1] == len(ids) - 3  # the whole conversation's -3, as prm_evaluate.py reads its last step
    short = rlhflow.load(published, device="cpu", dtype="float32", max_length=positions[1] + 2)
    full, cut = scorer.score(QUESTION, STEPS), short.score(QUESTION, STEPS)
    assert cut[0] == pytest.approx(full[0], abs=1e-5) and cut[1:] == [None, None]
    tiny = rlhflow.load(published, device="cpu", dtype="float32", max_length=8)
    assert tiny.score_batch([(QUESTION, STEPS), OTHER]) == [[None] * 3, [None] * 2]


# (4) broken checkpoints and templates ---------------------------------------------------------------------------


def test_missing_or_corrupt_weights_fail_clearly(published: Path, tmp_path: Path) -> None:
    missing = copy_configs(published, tmp_path / "no-weights")
    (missing / "model.safetensors.index.json").unlink()
    with pytest.raises(ValueError, match="could not load the RLHFlow PRM"):
        rlhflow.load(missing, device="cpu")
    corrupt = tmp_path / "corrupt"
    shutil.copytree(published, corrupt)
    (corrupt / "model-00003-of-00004.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="RLHFlow PRM"):
        rlhflow.load(corrupt, device="cpu")


def test_templates_it_cannot_read_are_refused(published: Path, tmp_path: Path) -> None:
    for name, template in (("none", None), ("counting", "{{ messages|length }}{% for m in messages %}"
                                                         "{{ m['content'] }}<|eot_id|>{% endfor %}")):
        folder = tmp_path / name
        shutil.copytree(published, folder)
        config = json.loads((folder / "tokenizer_config.json").read_text())
        config.pop("chat_template")
        (folder / "tokenizer_config.json").write_text(json.dumps(config | ({"chat_template": template} if template
                                                                          else {})))
        with pytest.raises(ValueError, match="chat template"):
            rlhflow.load(folder, device="cpu")


def test_the_registry_detects_and_loads_it(published: Path) -> None:
    scorer = load_through_registry(published, "rlhflow_prm", segmentation="newline")
    assert scorer.config.segmentation == "newline" and scorer.steps_of("a\nb") == ["a", "b"]
