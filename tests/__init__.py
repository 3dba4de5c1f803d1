"""The test suite; a package so fixture pipelines are importable as ``tests.pipelines`` (cwd = repo root)."""
