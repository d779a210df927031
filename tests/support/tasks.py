"""Small builders for module tasks in integration tests."""


def task(title, module, cluster=None, /, **args):
    """One pgdist.cluster task; cluster adds its login options. Extra task keywords go in args['_task']."""
    keywords = args.pop('_task', {})
    module_args = dict(cluster.login) if cluster is not None else {}
    module_args.update(args)
    entry = {'name': title, 'pgdist.cluster.' + module: module_args}
    entry.update(keywords)
    return entry


def by_name(run, host='localhost'):
    """Task results of a PlaybookRun keyed by task name."""
    return dict((result['_task'], result) for result in run.results(host))
