-- Movies per release year: the dashboard's trend line. Movies without a year are left out.
SELECT
    year,
    count(*) AS movies
FROM movies
WHERE year IS NOT NULL
GROUP BY year
ORDER BY year
