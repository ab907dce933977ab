-- Movies per genre class, read from the genre_classification output (so it runs after it),
-- with each class's audience from the shipped reference table reference/genre_classes.csv.
SELECT
    c.genre_class,
    coalesce(r.audience, 'unrated') AS audience,
    count(*) AS movies
FROM genre_classification AS c
LEFT JOIN genre_classes AS r ON r.genre_class = c.genre_class
GROUP BY c.genre_class, coalesce(r.audience, 'unrated')
ORDER BY movies DESC, c.genre_class
