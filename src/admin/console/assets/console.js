/* The console: pages drawn from the admin API. */
