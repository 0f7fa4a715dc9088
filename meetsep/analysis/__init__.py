"""What is read from a finished transcript: scores against a reference (meeteval, pyannote.metrics),
conversation analytics, and the HTML report."""
