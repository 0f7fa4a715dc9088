"""The floor every other layer stands on: the data model, configuration, errors, logs, progress hooks,
and the signal and interval helpers the stages share. Imports nothing else of meetsep."""
