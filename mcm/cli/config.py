"""``mcm config show``: print the resolved configuration."""

from __future__ import annotations

from mcm.config.load import config_to_yaml, load_config


def add_config_arguments(parser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a dotted key of the schema, e.g. optim.lr=1e-4 (repeatable)")


def register(sub) -> None:
    p = sub.add_parser("config", help="inspect configurations")
    verbs = p.add_subparsers(dest="config_verb", required=True)
    show = verbs.add_parser("show", help="print the resolved configuration as YAML")
    show.add_argument("source", help="preset name or YAML file")
    add_config_arguments(show)
    show.set_defaults(func=show_config)


def show_config(args) -> int:
    print(config_to_yaml(load_config(args.source, args.overrides)), end="")
    return 0
