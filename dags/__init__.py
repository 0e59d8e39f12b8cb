"""The pipeline's DAG files (wiring only), shipped in the package as `foodtrace.dags`.

`foodtrace pipeline run` and the deployment's scheduler read this folder; see
foodtrace.pipeline.airflow_run.dags_folder. Nothing here is imported by the package.
"""
