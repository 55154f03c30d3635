"""The stages of ``prm quickstart``: which ``prm`` commands run, in which order, writing which files.

Offline default (the synthetic arithmetic task, every model trained here)::

    data synth  ->  policy train  ->  verifier LM (the policy trained further)
      -> sample test (N per problem)  ->  sample train (a few per problem)
      -> label train samples (exact; Monte-Carlo on a subset)  ->  label test samples (exact)
      -> PRM and learned ORM side by side (same verifier LM, rows and head; only the labels differ)
      -> score test samples (PRM, ORM)  ->  bon  ->  eval steps
      -> beam search guided by the PRM  ->  search compare (beam vs the test samples as best-of-N, equal tokens)

The reward models start from a verifier LM stronger than the policy, as real PRMs start from strong
base models: a verifier no better at the arithmetic than the policy cannot tell its right samples from
its wrong ones (the README's quickstart section has the measurements). The default head is the
likelihood PRM (:mod:`prm.model.likelihood`); ``--prm-head two_class`` fine-tunes the classic one.

Optional stages: ``--hf-sample-problems`` samples a second problem set (GSM8K) with the transformers backend, so
one run exercises both sampling backends; ``--grpo-steps`` runs a short GRPO of the policy (LoRA) rewarded by the
answer and the PRM trained here (``answer,prm_process:0.5``: step-level advantages);
``--profile smollm`` (:mod:`prm.quickstart.profiles`) turns both on for a real pretrained LM.

``--model`` (a policy) skips policy training (the verifier is then the policy unless ``--verifier`` names one),
``--prm`` and ``--orm`` skip the reward-model trainings (and, with both, the training samples and
labels), ``--problems`` replaces the synthetic test problems (``--train-problems`` then names the
problems the reward models train on).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from prm.cli_contract import shared
from prm.pipeline import Stage

__all__ = ["QuickstartConfig", "QuickstartPaths", "build_stages"]

SYNTHETIC = "synthetic"
RM_HEADS = ("likelihood", "two_class", "scalar")


@dataclass
class QuickstartConfig:
    out_dir: str = shared("out_dir", "runs/quickstart", "every stage's outputs, and the report")
    resume: bool = shared("resume", True, "finished stages are reused, a killed one continues")
    problems: str = shared("problems", SYNTHETIC, "the test problems; 'synthetic': generated here")
    train_problems: str | None = field(default=None, metadata={
        "help": "problems the reward models train on (default: synthetic train problems; required with --problems "
                "unless --prm and --orm are given)"})
    model: str | None = shared("model", detail="the policy that writes the samples (default: train one here)")
    verifier: str | None = field(default=None, metadata={
        "help": "LM the reward models start from (default: the policy trained further here; with --model, the "
                "policy itself)"})
    prm_head: str = field(default="likelihood", metadata={
        "help": "head of the PRM and ORM trained here: likelihood (frozen verifier LM, fitted in seconds), "
                "two_class or scalar (fine-tuned for --rm-steps)"})
    prm: str | None = shared("prm", detail="default: train one here")
    prm_format: str = shared("prm_format", "auto", "a given --prm's")
    prm_options: str | None = shared("prm_options", detail="a given --prm's")
    orm: str | None = shared("orm", detail="default: train one here")
    n: int = field(default=16, metadata={"help": "samples per test problem (best-of-N up to this N)"})
    test_problems: int = field(default=200, metadata={"help": "test problems to sample"})
    train_problem_count: int = field(default=3000, metadata={"help": "problems whose samples train the RMs"})
    train_samples: int = field(default=4, metadata={"help": "samples per training problem"})
    mc_samples: int = field(default=600, metadata={"help": "training samples given Monte-Carlo labels too"})
    mc_k: int = field(default=8, metadata={"help": "rollouts per step prefix for Monte-Carlo labels"})
    policy_steps: int = field(default=2000, metadata={"help": "optimizer steps of the policy"})
    verifier_steps: int = field(default=2000, metadata={"help": "further optimizer steps that make the verifier "
                                                                "LM from the policy"})
    policy_minutes: float = field(default=0.0, metadata={"help": "optional wall-clock cap of the policy and of the "
                                                                 "verifier training (minutes each; 0: none, the "
                                                                 "step counts are the budget)"})
    train_threads: int = field(default=2, metadata={"help": "torch CPU threads of the policy and verifier "
                                                            "trainings (each runs alone)"})
    rm_steps: int = field(default=1000, metadata={"help": "optimizer steps of each fine-tuned reward model (the "
                                                          "likelihood head has none)"})
    rm_minutes: float = field(default=0.0, metadata={"help": "optional wall-clock cap of each fine-tuned reward "
                                                              "model (minutes; 0: none)"})
    search_n: int = field(default=16, metadata={"help": "beam search on the test problems with this budget n (the "
                                                        "PRM guides it; compared with best-of-N at equal tokens); 0: "
                                                        "no search"})
    search_beam_width: int = field(default=4, metadata={"help": "beam width of that search (divides --search-n)"})
    search_problems: int = field(default=50, metadata={"help": "test problems searched (the first ones)"})
    search_backend: str = field(default="hf", metadata={
        "help": "policy backend of the search: hf (seeded per call: the search reproduces; no engine start, which "
                "keeps the demo in its time) or vllm / auto (prefix caching; real models)"})
    temperature: float = field(default=0.8, metadata={"help": "sampling temperature"})
    max_new_tokens: int = shared("max_new_tokens", 320, "a sampled solution")
    system_prompt: str | None = shared("system_prompt", detail="sampling and Monte-Carlo rollouts")
    backend: str = field(default="auto", metadata={"help": "sampling backend: auto (vLLM when installed), vllm, hf"})
    threads: int = shared("threads", 1, "per process (two trainings run at once)")
    seed: int = shared("seed", 0, "of every stage")
    segmentation: str = field(default="blank_line", metadata={"help": "how samples are cut into steps, for "
                                                                      "labels, the reward models and scoring "
                                                                      "(data.segment: blank_line, auto, ...)"})
    vllm_eager: bool = field(default=False, metadata={"help": "vLLM engines skip graph compilation "
                                                              "(PRM_VLLM_ENFORCE_EAGER): start in seconds, generate "
                                                              "a little slower; for short runs"})
    synthetic_families: str = field(default="arithmetic", metadata={"help": "families of the synthetic problems "
                                                                          "(comma-separated, data.synth)"})
    synthetic_levels: str = field(default="1,2,3", metadata={"help": "levels of the synthetic problems (1-5, "
                                                                     "comma-separated)"})
    hf_problems: str = field(default="gsm8k", metadata={"help": "problems of the transformers-backend sample stage "
                                                                "(test split)"})
    hf_sample_problems: int = field(default=0, metadata={"help": "problems of --hf-problems sampled with the "
                                                                 "transformers backend, pass@1 in the report (0: no "
                                                                 "such stage)"})
    hf_samples: int = field(default=2, metadata={"help": "samples per problem of that stage"})
    grpo_steps: int = field(default=0, metadata={"help": "a short GRPO run of the policy (LoRA) on the training "
                                                         "problems, rewarded by the answer and the PRM; 0: none"})


@dataclass(frozen=True)
class QuickstartPaths:
    """Every file and folder the stages write, under ``root`` (``QuickstartPaths.under(root)``)."""

    root: Path
    data: Path
    train_problems: Path
    test_problems: Path
    policy: Path
    verifier: Path
    test_samples: Path
    train_samples: Path
    train_exact: Path
    train_mc: Path
    test_exact: Path
    prm: Path
    orm: Path
    scored_prm: Path
    scored: Path
    scored_steps: Path
    bon: Path
    search_beam: Path
    search_compare: Path
    steps: Path
    state: Path
    report: Path
    hf_samples: Path
    grpo: Path

    @classmethod
    def under(cls, root: Path) -> QuickstartPaths:
        layout = {
            "data": "data", "train_problems": "data/train.jsonl", "test_problems": "data/test.jsonl",
            "policy": "policy", "verifier": "verifier", "test_samples": "samples/test.jsonl",
            "train_samples": "samples/train.jsonl",
            "train_exact": "labels/train-exact.jsonl", "train_mc": "labels/train-mc.jsonl",
            "test_exact": "labels/test-exact.jsonl", "prm": "prm", "orm": "orm",
            "scored_prm": "scored/test-prm.jsonl", "scored": "scored/test.jsonl",
            "scored_steps": "scored/test-steps.jsonl", "bon": "bon", "search_beam": "search/beam.jsonl",
            "search_compare": "search/compare", "steps": "steps", "state": "stages",
            "report": "report.md", "hf_samples": "samples/hf.jsonl", "grpo": "grpo",
        }
        return cls(root=root, **{name: root / relative for name, relative in layout.items()})


def _vllm_env(config: QuickstartConfig) -> dict[str, str]:
    """The environment of a stage that may start a vLLM engine."""
    return {"VLLM_CPU_KVCACHE_SPACE": "2", **({"PRM_VLLM_ENFORCE_EAGER": "1"} if config.vllm_eager else {})}


def _synthetic_stage(config: QuickstartConfig, paths: QuickstartPaths) -> Stage:
    argv = ("data", "synth", "--out-dir", str(paths.data), "--n-train", str(config.train_problem_count),
            "--n-test", str(config.test_problems), "--families", config.synthetic_families,
            "--levels", config.synthetic_levels,
            "--seed", str(config.seed + 7))  # not the policy's seed: its training problems come from seed 0
    return Stage("synthetic problems", argv, (str(paths.train_problems), str(paths.test_problems)))


def _policy_stages(config: QuickstartConfig, paths: QuickstartPaths) -> list[Stage]:
    """The policy from scratch, then the verifier LM: the same model trained further on other problems."""
    cap = ("--minutes", str(config.policy_minutes)) if config.policy_minutes > 0 else ()
    common = (*cap, "--threads", str(config.train_threads), "--eval-problems", "0")
    policy = Stage("policy", ("policy", "train", "--out-dir", str(paths.policy), "--max-steps",
                              str(config.policy_steps), "--seed", str(config.seed), *common),
                   (str(paths.policy / "policy_meta.json"),))
    verifier = Stage("verifier lm", ("policy", "train", "--model", str(paths.policy), "--out-dir",
                                     str(paths.verifier), "--max-steps", str(config.verifier_steps),
                                     "--seed", str(config.seed + 1), *common),
                     (str(paths.verifier / "policy_meta.json"),))
    return [policy, verifier] if config.verifier is None else [policy]


def _sample_stage(name: str, policy: str, problems: str, out: Path, n: int, limit: int | None,
                  config: QuickstartConfig) -> Stage:
    argv = ["sample", "--model", policy, "--problems", problems, "--output", str(out), "--n", str(n),
            "--temperature", str(config.temperature), "--max-new-tokens", str(config.max_new_tokens),
            "--backend", config.backend, "--seed", str(config.seed), "--segmentation", config.segmentation]
    if limit:
        argv += ["--limit", str(limit)]
    if config.system_prompt:
        argv += ["--system-prompt", config.system_prompt]
    return Stage(name, tuple(argv), (str(out),), env=_vllm_env(config))


def _label_stages(config: QuickstartConfig, paths: QuickstartPaths, policy: str, train: str) -> list[Stage]:
    exact = Stage("label train exact", ("label", "--method", "exact", "--problems", train, "--samples",
                                        str(paths.train_samples), "--after-error", "zero",
                                        "--output", str(paths.train_exact)), (str(paths.train_exact),))
    system = ("--system-prompt", config.system_prompt) if config.system_prompt else ()
    mc = Stage("label train mc", ("label", "--method", "mc", "--problems", train, "--samples",
                                  str(paths.train_samples), "--limit", str(config.mc_samples), "--model", policy,
                                  "--k", str(config.mc_k), "--backend", config.backend,
                                  "--max-new-tokens", str(config.max_new_tokens), "--seed", str(config.seed), *system,
                                  "--output", str(paths.train_mc)), (str(paths.train_mc),),
               env=_vllm_env(config))
    return [exact, mc] if config.mc_samples > 0 else [exact]


def _train_stage(name: str, out: Path, verifier: str, config: QuickstartConfig, paths: QuickstartPaths,
                 outcome: bool) -> Stage:
    argv = ["train", "--head", config.prm_head, "--data", str(paths.train_exact), "--eval-data",
            str(paths.test_exact), "--eval-limit", "1000", "--model", verifier, "--out-dir", str(out),
            "--threads", str(config.threads), "--batch-size", "16", "--seed", str(config.seed),
            "--segmentation", config.segmentation,
            "--eval-problems", "none"]  # generated problems: no MATH-500 check (and no hub try on an offline machine)
    if config.prm_head != "likelihood":
        argv += ["--max-steps", str(config.rm_steps), "--lr", "1e-3"]
        argv += ["--minutes", str(config.rm_minutes)] if config.rm_minutes > 0 else []
    if outcome:
        argv.append("--outcome")
    return Stage(name, tuple(argv), (str(out / "train_metrics.json"),), group="reward models")  # written last


def _given_prm(config: QuickstartConfig) -> tuple[str, ...]:
    """The format and loader options of a given --prm, for every stage that loads it."""
    given = ("--prm-format", config.prm_format) if config.prm and config.prm_format != "auto" else ()
    return given + (("--prm-options", config.prm_options) if config.prm and config.prm_options else ())


def _score_stages(config: QuickstartConfig, prm: str, orm: str, paths: QuickstartPaths, test: str
                  ) -> list[Stage]:
    """PRM scores of the test samples and of their exact-labelled rows side by side, then ORM scores."""
    cpu = ("--threads", str(config.threads))
    given = _given_prm(config)
    return [
        Stage("score test prm", ("score", "--samples", str(paths.test_samples), "--prm", prm, "--problems", test,
                                 "--output", str(paths.scored_prm), *given, *cpu), (str(paths.scored_prm),),
              group="scoring"),
        Stage("score test steps", ("score", "--samples", str(paths.test_exact), "--prm", prm,
                                   "--output", str(paths.scored_steps), *given, *cpu), (str(paths.scored_steps),),
              group="scoring"),
        Stage("score test orm", ("score", "--samples", str(paths.scored_prm), "--prm", orm, "--problems", test,
                                 "--score-field", "orm_step_scores", "--output", str(paths.scored), *cpu),
              (str(paths.scored),)),
    ]


def _search_stages(config: QuickstartConfig, policy: str, prm: str, paths: QuickstartPaths, test: str
                   ) -> list[Stage]:
    """Beam search guided by the PRM on the first test problems, then against the test samples as best-of-N
    (the first n of each problem's samples, n = 1..N) at equal generated tokens."""
    given = _given_prm(config)
    system = ("--system-prompt", config.system_prompt) if config.system_prompt else ()
    search = Stage("search beam", (
        "search", "--strategy", "beam", "--model", policy, "--prm", prm, *given, "--problems", test,
        "--limit", str(config.search_problems), "--n", str(config.search_n), "--beam-width",
        str(config.search_beam_width), "--aggregation", "min", "--temperature", str(config.temperature),
        "--max-new-tokens", str(config.max_new_tokens), "--backend", config.search_backend, "--seed",
        str(config.seed), *system, "--threads", str(config.train_threads), "--output", str(paths.search_beam)),
        (str(paths.search_beam),), env=_vllm_env(config))
    compare = Stage("search compare", (
        "search", "compare", "--runs", f"beam={paths.search_beam}", "--samples", f"best_of_n={paths.scored}",
        "--samples-aggregation", "min", "--problems", test, "--out-dir", str(paths.search_compare),
        "--seed", str(config.seed), "--title", "Beam search vs best-of-N on the quickstart test problems"),
        (str(paths.search_compare / "search_compare.json"),))
    return [search, compare]


def _hf_sample_stage(config: QuickstartConfig, paths: QuickstartPaths, policy: str) -> Stage:
    argv = ["sample", "--model", policy, "--problems", config.hf_problems, "--split", "test", "--limit",
            str(config.hf_sample_problems), "--n", str(config.hf_samples), "--backend", "hf",
            "--temperature", str(config.temperature), "--max-new-tokens", str(config.max_new_tokens),
            "--seed", str(config.seed), "--segmentation", config.segmentation, "--output", str(paths.hf_samples)]
    if config.system_prompt:
        argv += ["--system-prompt", config.system_prompt]
    return Stage("sample hf", tuple(argv), (str(paths.hf_samples),), env={"OMP_NUM_THREADS": str(config.threads)})


def _grpo_stage(config: QuickstartConfig, paths: QuickstartPaths, policy: str, prm: str, train: str) -> Stage:
    argv = ["grpo", "--model", policy, "--out-dir", str(paths.grpo), "--problems", train,
            "--rewards", "answer,prm_process:0.5", "--prm", prm, "--max-steps", str(config.grpo_steps),
            "--group-size", "4", "--prompts-per-step", "2", "--micro-batch", "4", "--lr", "1e-5", "--lora",
            "--temperature", str(config.temperature), "--max-new-tokens", str(config.max_new_tokens),
            "--eval-problems", "0", "--checkpoint-steps", "1", "--threads", str(config.train_threads),
            "--seed", str(config.seed)]
    if config.system_prompt:
        argv += ["--system-prompt", config.system_prompt]
    return Stage("grpo", tuple(argv), (str(paths.grpo / "metrics.jsonl"),))


def extra_stages(config: QuickstartConfig, paths: QuickstartPaths, policy: str, prm: str, train: str | None
                 ) -> list[Stage]:
    """The optional stages ``config`` asks for (none by default)."""
    stages = []
    if config.hf_sample_problems > 0:
        stages.append(_hf_sample_stage(config, paths, policy))
    if config.grpo_steps > 0 and train is not None:
        stages.append(_grpo_stage(config, paths, policy, prm, train))
    return stages


def build_stages(config: QuickstartConfig) -> list[Stage]:
    """The quickstart's stages for ``config``, in order; a given model skips the stages that make it."""
    paths = QuickstartPaths.under(Path(config.out_dir))
    synthetic = config.problems == SYNTHETIC
    test = str(paths.test_problems) if synthetic else config.problems
    train = config.train_problems or (str(paths.train_problems) if synthetic else None)
    need_rms = config.prm is None or config.orm is None
    if config.prm_head not in RM_HEADS:
        raise ValueError(f"--prm-head should be one of {', '.join(RM_HEADS)}, got {config.prm_head!r}")
    if need_rms and train is None:
        raise ValueError("--problems other than 'synthetic' needs --train-problems (or both --prm and --orm)")
    stages = [_synthetic_stage(config, paths)] if synthetic else []
    policy = config.model or str(paths.policy)
    if config.model is None:
        stages += _policy_stages(config, paths)
    verifier = config.verifier or (policy if config.model else str(paths.verifier))
    limit = None if synthetic else config.test_problems
    stages.append(_sample_stage("sample test", policy, test, paths.test_samples, config.n, limit, config))
    if need_rms:
        stages.append(_sample_stage("sample train", policy, str(train), paths.train_samples, config.train_samples,
                                    None, config))
        stages += _label_stages(config, paths, policy, str(train))
    stages.append(Stage("label test exact", ("label", "--method", "exact", "--problems", test, "--samples",
                                             str(paths.test_samples), "--after-error", "zero",
                                             "--output", str(paths.test_exact)), (str(paths.test_exact),)))
    if config.prm is None:
        stages.append(_train_stage("train prm", paths.prm, verifier, config, paths, outcome=False))
    if config.orm is None:
        stages.append(_train_stage("train orm", paths.orm, verifier, config, paths, outcome=True))
    stages += _score_stages(config, config.prm or str(paths.prm), config.orm or str(paths.orm), paths, test)
    stages.append(Stage("best of n", ("bon", "--samples", str(paths.scored), "--problems", test,
                                      "--out-dir", str(paths.bon), "--seed", str(config.seed),
                                      "--title", "Best-of-N on the quickstart test problems"),
                        (str(paths.bon / "bon.json"),)))
    stages.append(Stage("step errors", ("eval", "steps", "--data", str(paths.scored_steps),
                                        "--out-dir", str(paths.steps), "--seed", str(config.seed)),
                        (str(paths.steps / "steps_eval.json"),)))
    if config.search_n > 0:
        stages += _search_stages(config, policy, config.prm or str(paths.prm), paths, test)
    return stages + extra_stages(config, paths, policy, config.prm or str(paths.prm), train)
