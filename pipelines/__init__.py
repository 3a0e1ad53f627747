"""The Kubeflow side of mcm: the distillation's TrainJob (:mod:`pipelines.trainjob`) and the client that runs it
(:mod:`pipelines.kube`). The library package ``mcm`` knows nothing of Kubeflow; nothing here imports it."""
