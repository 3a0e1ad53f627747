"""Kubeflow Pipelines components of mcm: one folder per step, each a lightweight Python component whose body calls
the library's CLI (``mcm ...``), so that it runs in its step's image on a cluster and under kfp.local's
SubprocessRunner. The library (``mcm``) never imports this package."""
