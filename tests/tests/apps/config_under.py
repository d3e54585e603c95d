"""Evaluates a Jupyter config file as if other app versions were installed.

Usage: config_under.py <config file> <versions as JSON: {"distribution": "version"}>

Loads the file the way Jupyter does (into a traitlets Config as `c`), with
importlib.metadata answering only the given versions, and prints the sections it set as JSON.
"""

import importlib.metadata
import json
import sys

from traitlets.config import Config


def main():
    path, versions = sys.argv[1], json.loads(sys.argv[2])

    def version(name):
        if name in versions:
            return versions[name]
        raise importlib.metadata.PackageNotFoundError(name)

    importlib.metadata.version = version
    c = Config()
    with open(path) as f:
        exec(compile(f.read(), path, "exec"), {"c": c, "get_config": lambda: c})
    print(json.dumps({section: dict(values) for section, values in c.items()}, default=repr))


if __name__ == "__main__":
    main()
