"""The ``knowledge import`` and ``knowledge generate`` subcommands.

The CLI group calls :func:`add_arguments` on its ``knowledge`` parser and :func:`run` with the
parsed arguments; ``python -m recbole_llmkg.llm.knowledge_commands ...`` runs them alone.

    knowledge import --dataset ml-100k --source colakg_llm_response_item.json \
        --source-titles movies.dat
    knowledge generate --dataset ml-100k --model path/to/SmolLM2-Instruct --limit 50

Both write ``<knowledge_dir>/<dataset>/<dataset>.knowledge`` by default (``--out`` to change;
see :mod:`~recbole_llmkg.llm.knowledge_source` for where runs look for it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from recbole_llmkg.errors import ConfigError, LLMKGError
from recbole_llmkg.llm.knowledge_file import knowledge_filename, write_knowledge
from recbole_llmkg.llm.knowledge_source import (
    atomic_types,
    dataset_folder,
    item_rows,
    item_titles,
    knowledge_dir,
    read_atomic,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``import`` and ``generate`` subcommands to ``parser``."""
    sub = parser.add_subparsers(dest="knowledge_command", required=True,
                                metavar="{import,generate}")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--dataset", "-d", required=True, help="dataset name, e.g. ml-100k")
        p.add_argument("--data-path", default=None,
                       help="folder holding <dataset>/ (default: dataset/, the plugin's "
                       "datasets/, RecBole's bundled copies; ml-100k is always RecBole's)")
        p.add_argument("--out", default=None, help="knowledge file to write (default: "
                       "<knowledge-dir>/<dataset>/<dataset>.knowledge)")
        p.add_argument("--knowledge-dir", default=None,
                       help="default ~/.local/share/recbole_llmkg/knowledge (config key "
                       "knowledge_dir)")

    imp = sub.add_parser("import", help="map texts written elsewhere to the dataset's item ids")
    common(imp)
    imp.add_argument("--source", required=True, help="JSON, JSONL or TSV of texts")
    keyed = imp.add_mutually_exclusive_group()
    keyed.add_argument("--id-map", help="TSV 'source id<TAB>item id' mapping the source's ids")
    keyed.add_argument("--source-titles", help="titles of the source ids: MovieLens movies.dat "
                       "or a TSV 'id<TAB>title[<TAB>year]' (matched by normalised title + year)")
    imp.add_argument("--min-coverage", type=float, default=0.5,
                     help="fail below this share of items matched (default 0.5)")

    gen = sub.add_parser("generate", help="write knowledge with a local causal language model")
    common(gen)
    gen.add_argument("--model", required=True, help="local causal LM folder (or a .gguf file)")
    gen.add_argument("--kind", choices=("item", "user"), default="item")
    gen.add_argument("--prompts", default=None,
                     help="prompts YAML (default: the plugin's properties/knowledge/prompts.yaml)")
    gen.add_argument("--train-inter", default=None,
                     help="--kind user: an interactions file of TRAINING interactions only "
                     "(e.g. a board split's <dataset>.train.inter)")
    gen.add_argument("--history-len", type=int, default=20,
                     help="--kind user: most recent training items in the prompt")
    gen.add_argument("--batch-size", type=int, default=8)
    gen.add_argument("--limit", type=int, default=None, help="stop after this many ids in all")
    gen.add_argument("--device", default="cpu")
    gen.add_argument("--journal", default=None,
                     help="resume journal (default: <out>.journal.jsonl)")
    gen.add_argument("--no-progress", action="store_true")


def _out_path(args, kind: str = "item") -> Path:
    if args.out:
        return Path(args.out)
    return knowledge_dir(args.knowledge_dir) / args.dataset / knowledge_filename(args.dataset,
                                                                                 kind)


def run_import(args) -> int:
    from recbole_llmkg.llm.knowledge_import import (
        coverage_report,
        map_to_items,
        read_id_map,
        read_source,
        read_titles,
    )

    folder = dataset_folder(args.dataset, args.data_path)
    rows = item_rows(folder, args.dataset)
    titles = item_titles(rows)
    records = read_source(args.source)
    result = map_to_items(
        records, list(rows.index), titles,
        source_titles=read_titles(args.source_titles) if args.source_titles else None,
        id_map=read_id_map(args.id_map) if args.id_map else None,
        min_coverage=args.min_coverage, source=f"'{args.source}'",
    )
    out = write_knowledge(_out_path(args), result.texts)
    print(coverage_report(result, titles))
    print(f"Wrote {len(result.texts)} texts to {out}")
    return 0


def _item_values(folder: Path, dataset: str) -> dict[str, dict]:
    """``{item token: {field: value}}`` for the item prompt (token_seq fields as lists)."""
    rows = item_rows(folder, dataset)
    types = atomic_types(folder / f"{dataset}.item") if (folder / f"{dataset}.item").is_file() \
        else {}
    seq = [f for f, t in types.items() if t.endswith("_seq")]
    records = rows.to_dict("index")
    for values in records.values():
        for f in seq:
            values[f] = str(values[f]).split() if values.get(f) else None
    return records


def _user_values(folder: Path, dataset: str, train_inter: str | None,
                 history_len: int) -> dict[str, dict]:
    """``{user token: {"history": titles of the newest training items, .user fields}}``."""
    if not train_inter:
        raise ConfigError("knowledge generate --kind user needs --train-inter: an interactions "
                          "file of training interactions only (e.g. a board split's "
                          f"{dataset}.train.inter), so the text leaks no evaluation item.")
    inter = read_atomic(Path(train_inter))
    titles = item_titles(item_rows(folder, dataset)) or {}
    if "timestamp" in inter.columns:
        inter = inter.assign(_t=inter["timestamp"].astype(float)).sort_values(
            ["user_id", "_t"], ascending=[True, False], kind="stable")
    newest = inter.groupby("user_id", sort=False).head(history_len)
    named = newest["item_id"].map(lambda t: titles.get(t, (t, None))[0])
    history = named.groupby(newest["user_id"], sort=False).agg("; ".join)
    user_file = folder / f"{dataset}.user"
    users = read_atomic(user_file).set_index("user_id", drop=False).to_dict("index") \
        if user_file.is_file() else {}
    return {u: {**users.get(u, {}), "history": h} for u, h in history.items()}


def run_generate(args) -> int:
    from recbole_llmkg.llm.knowledge_generate import (
        Generator,
        generate_knowledge,
        load_prompt,
        model_fingerprint_of,
    )

    prompt = load_prompt(args.prompts, args.kind)
    folder = dataset_folder(args.dataset, args.data_path)
    rows = (_item_values(folder, args.dataset) if args.kind == "item"
            else _user_values(folder, args.dataset, args.train_inter, args.history_len))
    out = _out_path(args, args.kind)
    journal = Path(args.journal) if args.journal else out.with_name(out.name + ".journal.jsonl")
    generator = Generator(args.model, args.device)
    generated, total = generate_knowledge(
        generator, model_fingerprint_of(args.model), prompt, rows, out, journal, args.kind,
        args.batch_size, args.limit, show_progress=not args.no_progress,
    )
    print(f"Generated {generated} new texts; {total} of {len(rows)} {args.kind}s in {out} "
          f"(journal {journal}).")
    return 0


def run(args) -> int:
    """Run the parsed ``import`` / ``generate`` command; bad input is one line on stderr and
    exit code 2."""
    try:
        if args.knowledge_command == "import":
            return run_import(args)
        return run_generate(args)
    except LLMKGError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recbole_llmkg.llm.knowledge_commands",
                                     description="Import or generate item knowledge.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
