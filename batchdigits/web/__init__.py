"""People in the loop: the review page, its session, and the review sheet."""
